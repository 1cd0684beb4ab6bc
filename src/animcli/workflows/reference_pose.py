"""The pose relative motion is measured from: a reference photo (``--reference``), a chosen driving frame
(``--best-frame``) or the best one found (``--find-best-frame``, as the official demo does); and what a driving
photo cannot be combined with."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from animcli.common.errors import AnimcliError
from animcli.inference.animator import Animator
from animcli.media import DEFAULT_FRAME_DIR_FPS, resize_square
from animcli.models.base import Motion
from animcli.workflows.driving import Driving, is_photo, reference_image


class NoFaceFound(Exception):
    """Best-frame search by face landmarks is not possible (the model's keypoints are used instead)."""


def best_frame_by_landmarks(source: np.ndarray, frames: Iterable[np.ndarray], size: int) -> tuple[int, np.ndarray]:
    """The official demo's choice: the driving frame whose 68 face landmarks, centred and divided by the square
    root of their hull area, are closest (sum of squares) to the source's. Frames without a face are skipped.
    Returns the index and the frame; raises NoFaceFound when the source or every frame lacks a face."""
    from animcli.crop import faces
    from animcli.models.keypoint_transfer import pose_distance

    source_landmarks = faces.face_landmarks(resize_square(source, size))
    if source_landmarks is None:
        raise NoFaceFound("no face in the source image")
    best: tuple[float, int, np.ndarray] | None = None
    for index, frame in enumerate(frames):
        small = resize_square(frame, size)
        landmarks = faces.face_landmarks(small)
        if landmarks is None:
            continue
        distance = float(pose_distance(torch.from_numpy(source_landmarks)[None], torch.from_numpy(landmarks)[None]))
        if best is None or distance < best[0]:
            best = (distance, index, small)
    if best is None:
        raise NoFaceFound("no face in the driving video")
    return best[1], best[2]


def choose_initial_frame(animator: Animator, source: np.ndarray, frames: Iterable[np.ndarray]
                         ) -> tuple[int, Motion, str]:
    """The driving frame to measure relative motion from: by face landmarks when dlib's landmark model is
    installed and finds faces (as the official demo does), otherwise by the model's own keypoints/motion."""
    from animcli.crop import faces

    if faces.missing_reason(faces.LANDMARKS_FILE) is None:
        try:
            index, frame = best_frame_by_landmarks(source, frames, animator.size)
            return index, animator.driving_motion(frame), "face landmarks"
        except NoFaceFound:
            pass
    index, motion = animator.find_best_frame(source, frames)
    return index, motion, "model keypoints"


def _chosen_frame(frames: Iterable[np.ndarray], index: int) -> np.ndarray:
    """Frame ``index`` of the driving frames (``--best-frame``)."""
    count = 0
    for count, frame in enumerate(frames, start=1):
        if count == index + 1:
            return frame
    raise AnimcliError(f"--best-frame {index} is past the driving video's last frame ({count - 1})")


def check_driving_photo(animator: Animator, driving: Driving, reference: object, find_best_frame: bool,
                        best_frame: int | None, output_spec: str | Path) -> None:
    """What a driving photo (or a driving video) cannot be combined with."""
    output_is_image = is_photo(output_spec)
    if not driving.photo:
        if output_is_image:
            raise AnimcliError(f"{output_spec}: a driving video gives a video; write .mp4, .webm, .gif, .mov, .mkv "
                               "or a folder (a driving photo gives a photo)")
        return
    if find_best_frame or best_frame is not None:
        raise AnimcliError("--find-best-frame and --best-frame pick a frame of a driving video; with a driving "
                           "photo, measure relative motion from --reference IMAGE")
    if animator.options.mode == "relative" and reference is None:
        raise AnimcliError("relative transfer from one driving photo needs --reference IMAGE (the pose its change "
                           "is measured from); or use --mode absolute")


def reference_motions(animator: Animator, sources: list[Any], driving: Driving, *,
                      reference: str | Path | np.ndarray | None, best_frame: int | None, find_best_frame: bool,
                      crop: bool) -> tuple[list[Motion | None], tuple[int, ...] | None, str | None]:
    """Each source's reference motion (None: the first driving frame's), the driving frame(s) chosen and how;
    ``sources`` are the images ``find_best_frame`` compares with (otherwise only counted)."""
    count = len(sources)
    if reference is not None:
        return [animator.driving_motion(reference_image(reference, animator.size, crop))] * count, None, "--reference"
    chosen: list[int] = []
    motions: list[Motion | None] = []
    chosen_by = None
    if best_frame is not None:
        chosen, chosen_by = [best_frame] * count, "--best-frame"
        motions = [animator.driving_motion(_chosen_frame(driving.frames, best_frame))] * count
    elif find_best_frame:
        for source in sources:
            index, motion, chosen_by = choose_initial_frame(animator, source, driving.frames)
            chosen.append(index)
            motions.append(motion)
    else:
        return [None] * count, None, None
    if animator.smoothing is not None:
        fps = driving.fps or DEFAULT_FRAME_DIR_FPS
        motions = [animator.smoothed_motion_at(driving.frames, index, fps) for index in chosen]
    return motions, tuple(chosen), chosen_by
