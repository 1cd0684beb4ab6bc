"""Videos of a training dataset in any of the official layouts.

A video is a video file (mp4/gif/mov/…), a folder of frames (name order), or one PNG/JPG image holding the
frames side by side (the Monkey-Net "strip" format, frames square: frame t is columns [t·H, (t+1)·H)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animcli.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoError, frame_files, open_video, read_image


def is_video(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def list_videos(directory: Path) -> list[Path]:
    """The videos in a split folder, sorted by name (the official code used unsorted ``os.listdir``)."""
    return sorted(path for path in directory.iterdir() if is_video(path))


def split_strip(strip: np.ndarray, path: Path) -> np.ndarray:
    height, width = strip.shape[:2]
    if width % height:
        raise VideoError(f"{path}: a frame strip must be N square frames side by side, got {width}x{height}")
    return strip.reshape(height, width // height, height, 3).transpose(1, 0, 2, 3)


def read_video(path: Path) -> np.ndarray:
    """All frames of a video, (T, H, W, 3) uint8 RGB."""
    if path.is_dir():
        return np.stack([read_image(frame) for frame in frame_files(path)])
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return split_strip(read_image(path), path)
    with open_video(path) as reader:
        return np.stack(list(reader))


def read_frame_pair(path: Path, choose: callable) -> np.ndarray:
    """Two frames (2, H, W, 3) picked by ``choose(num_frames) -> (i, j)``; folders only decode those two."""
    if path.is_dir():
        files = frame_files(path)
        return np.stack([read_image(files[index]) for index in choose(len(files))])
    frames = read_video(path)
    return frames[list(choose(len(frames)))]
