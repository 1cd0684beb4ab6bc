"""Test videos in the official dataset layouts, named and read as streams of (H, W, 3) uint8 RGB frames.

A video is a file (mp4/gif/mov…), a folder of frames, or a png/jpg *strip* of square frames side by side
(Monkey-Net's shapes/actions); the layouts are those of :mod:`animcli.data.videos`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.data.videos import list_videos as list_video_paths
from animcli.data.videos import split_strip
from animcli.media import IMAGE_SUFFIXES, open_video, read_image


def video_name(path: Path) -> str:
    """The name that identifies a video across layouts: `clip.mp4`, `clip.png` and `clip/` are all `clip`."""
    return path.name if path.is_dir() else path.stem


def list_videos(root: Path) -> dict[str, Path]:
    """The videos directly inside `root`, by name, in name order."""
    if not root.is_dir():
        raise AnimcliError(f"{root}: not a directory of videos")
    videos: dict[str, Path] = {}
    for path in list_video_paths(root):
        name = video_name(path)
        if name in videos:
            raise AnimcliError(f"{root}: two videos are named {name!r} ({videos[name].name}, {path.name})")
        videos[name] = path
    if not videos:
        raise AnimcliError(f"{root}: no videos (files, frame folders or png/jpg strips) found")
    return videos


@contextlib.contextmanager
def open_frames(path: Path) -> Iterator[Iterator[np.ndarray]]:
    """The frames of one video of any supported layout (a strip is one image, decoded at once)."""
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        yield iter(split_strip(read_image(path), path))
        return
    with open_video(path) as reader:
        yield iter(reader)

