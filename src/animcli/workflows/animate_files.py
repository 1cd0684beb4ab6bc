"""File-level animation: read a source and a driving input, animate, write the result.

This is what ``animcli animate`` runs; it is a library function so scripts can call it too. The source is a
photo — one face, every face (``faces``), or the whole picture — or a video (``workflows.video_source``); the
driving input is a video or a photo (``workflows.driving``). Everything reaches the model through the
:class:`Animator`, whatever its family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from animcli.common.choices import AudioSource, Blend, Normalization
from animcli.common.errors import AnimcliError
from animcli.crop.boxes import Box, CropBox
from animcli.crop.selection import FaceSelection, parse_faces
from animcli.inference.animator import AnimatedBatch, Animator
from animcli.inference.overlap import Background
from animcli.media import DEFAULT_FRAME_DIR_FPS, open_writer, read_image, resize_square, write_image
from animcli.media.images import check_pixels
from animcli.media.trim import Trim
from animcli.media.visualize import draw_keypoints, side_by_side
from animcli.models.base import Motion
from animcli.workflows.driving import Driving, Reiterable, is_photo, open_driving, reference_image

#: animated batches that may wait for the encoder thread (bounded: memory stays flat in video length).
WRITE_QUEUE_BATCHES = 4


@dataclass(frozen=True)
class OutputStyle:
    side_by_side: bool = False  # source | driving | result
    show_keypoints: bool = False
    output_size: int | None = None  # side of the result (each panel of a side-by-side); None: the model's


@dataclass(frozen=True)
class AnimationResult:
    frames: int
    fps: float | None  # None: a still was written (a driving photo)
    best_frame: int | None
    best_frame_by: str | None = None  # "face landmarks", "model keypoints", "--best-frame" or "--reference"
    frame_size: tuple[int, int] | None = None  # (width, height) of the written frames
    audio_dropped: str | None = None  # why the requested audio is not in the output
    faces: int = 1  # faces animated (``--faces``)
    best_frames: tuple[int, ...] | None = None  # --find-best-frame with several faces: each face's frame
    source_video: bool = False  # the source was a video (video to video)
    precision_hint: str | None = None  # how much faster --precision bf16 would be here (a fp32 run on a bf16 CPU)


@dataclass(frozen=True)
class Target:
    """One part of a still source that the model animates: a face crop (with the square it was cut from and the
    detector's head box, for paste-back) or the whole picture."""

    image: np.ndarray
    square: CropBox | None = None
    head: Box | None = None


__all__ = ["AnimationResult", "OutputStyle", "Reiterable", "Target", "animate_files", "compose_frames",
           "source_targets", "stretch_clip_uint8", "upscale_square"]


def stretch_clip_uint8(predictions: np.ndarray) -> np.ndarray:
    """The official LIA demo's writer: the whole clip stretched to [0, 1] by its global min and max, ×255 and
    truncated. Every frame depends on all others, so the clip has to be complete before anything is written."""
    low, high = float(predictions.min()), float(predictions.max())
    return ((predictions - low) / max(high - low, 1e-12) * 255).astype(np.uint8)


def compose_frames(batch: AnimatedBatch, predictions: np.ndarray, source: np.ndarray, style: OutputStyle,
                   finish: Callable[[np.ndarray], np.ndarray] | None = None) -> list[np.ndarray]:
    """The frames to write for one batch (``predictions``: its uint8 results), following ``style``;
    ``finish`` post-processes each result."""
    frames = []
    for i, prediction in enumerate(predictions):
        driving = batch.driving[i]
        if style.output_size is not None:
            prediction = upscale_square(prediction, style.output_size)
        if style.show_keypoints and batch.kp_driving is not None:
            driving = draw_keypoints(driving, batch.kp_driving[i])
            prediction = draw_keypoints(prediction, batch.kp_transferred[i])
        if finish is not None:
            prediction = finish(prediction)
        frames.append(side_by_side(source, driving, prediction) if style.side_by_side else prediction)
    return frames


def upscale_square(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` at size×size: Lanczos when growing (sharper than bilinear for the small models' 64–256 px
    results), the area filter when shrinking."""
    if image.shape[0] == size:
        return image
    interpolation = cv2.INTER_LANCZOS4 if size > image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (size, size), interpolation=interpolation)


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


@dataclass(frozen=True)
class Checked:
    """animate's options once their combinations have been checked."""

    faces: FaceSelection | None
    driving_face: FaceSelection | None
    crop: bool  # cut the faces out of the source and the driving input
    paste_back: bool

    @property
    def crop_source(self) -> bool:
        """Whether the source is cropped: for --crop, and for pasting a face back."""
        return self.crop or self.paste_back


def check_options(animator: Animator, *, faces: str | FaceSelection | None, driving_face: str | FaceSelection | None,
                  crop: bool, track: bool, paste_back: bool, find_best_frame: bool, best_frame: int | None,
                  reference: object, style: OutputStyle, normalize: Normalization, blend: Blend) -> Checked:
    """Refuse option combinations that cannot work, each in one line, before anything is read or written."""
    animator.model.check_normalization(normalize)
    if isinstance(faces, str):
        faces = parse_faces(faces)
    if isinstance(driving_face, str):
        driving_face = parse_faces(driving_face, "--driving-face")
    if faces is not None:
        crop = paste_back = True  # every face is cut out, animated and pasted back
    if track and not crop:
        raise AnimcliError("--track follows the face of a cropped driving video: add --crop")
    if driving_face is not None and not crop:
        raise AnimcliError("--driving-face chooses the face --crop cuts from the driving input: add --crop "
                           "(or --faces)")
    if find_best_frame and best_frame is not None:
        raise AnimcliError("give either --find-best-frame or --best-frame N, not both")
    if reference is not None and (find_best_frame or best_frame is not None):
        raise AnimcliError("give one reference for relative motion: --reference, --best-frame or --find-best-frame")
    if paste_back and style.output_size is not None:
        raise AnimcliError("--paste-back already writes the source's own size; drop --output-size")
    if style.output_size is not None:  # refused before anything is read, like an image over the pixel limit
        panels = 3 if style.side_by_side else 1
        check_pixels(style.output_size * panels, style.output_size, f"--output-size {style.output_size}")
    if blend != "feather" and not paste_back:
        raise AnimcliError("--blend chooses how --paste-back (or --faces) blends faces in: add one of them")
    if faces is not None and style.show_keypoints:
        raise AnimcliError("--show-keypoints draws one face's keypoints; it does not combine with --faces")
    if faces is not None and normalize == "clip":
        raise AnimcliError("--normalize clip stretches one face's clip; it does not combine with --faces")
    return Checked(faces, driving_face, crop, paste_back)


def animate_files(animator: Animator, source_path: str | Path | np.ndarray, driving_spec: str | Path | np.ndarray,
                  output_spec: str | Path,
                  *, fps: float | None = None, audio: bool | AudioSource = True, find_best_frame: bool = False,
                  best_frame: int | None = None, trim: Trim | None = None,
                  style: OutputStyle = OutputStyle(), crop: bool = False, track: bool = False,
                  paste_back: bool = False,
                  normalize: Normalization = "frame", overwrite: bool = False,
                  on_progress: Callable[[int, int | None], None] | None = None,
                  faces: str | FaceSelection | None = None, driving_face: str | FaceSelection | None = None,
                  blend: Blend = "feather", loop_driving: bool = False,
                  reference: str | Path | np.ndarray | None = None) -> AnimationResult:
    """Animate and write ``output_spec`` atomically; ``on_progress(done, total)`` after every batch.

    ``source_path``: a photo (a file or an (H, W, 3) uint8 array) or a video (a file or a folder of frames: see
    ``video_source.animate_video_source``). ``driving_spec``: a video, a folder of frames, ``-`` (stdin) or a photo
    (one still result for a still source; absolute transfer unless ``reference`` is given).
    ``trim`` selects part of the driving video (before anything else: ``--crop`` and ``best_frame`` then count
    within it). ``best_frame`` measures relative motion from that driving frame (the official demo's
    ``--best_frame``); ``find_best_frame`` searches for it; ``reference`` measures it from a photo instead.
    ``crop`` cuts the face out of the source and the driving input first (the models expect face-filling
    squares; ``track``: a driving crop that follows the face, see ``crop.track``; ``driving_face``: which face of
    the driving input, by default the largest); ``paste_back`` blends each animated crop back into the
    full-resolution source (``blend``: feather or poisson). ``faces`` (``all``, ``largest``, ``N[,M…]``, ``@X,Y``)
    animates every chosen face of a photo with the same driving motion and pastes them all back (implies
    ``crop`` and ``paste_back``). ``audio``: True keeps the driving video's track (a video source's own), False
    none, ``"source"``/``"driving"`` chooses.
    ``normalize="clip"`` reproduces the official LIA demo's frames (see ``stretch_clip_uint8``): results are
    held in memory until the clip is complete instead of being streamed; families that define no such
    normalisation refuse it. ``overwrite`` allows replacing a non-empty frame folder (as a whole).
    """
    checked = check_options(animator, faces=faces, driving_face=driving_face, crop=crop, track=track,
                            paste_back=paste_back, find_best_frame=find_best_frame, best_frame=best_frame,
                            reference=reference, style=style, normalize=normalize, blend=blend)
    if not is_photo(source_path):
        from animcli.workflows.video_source import animate_video_source

        return animate_video_source(
            animator, source_path, driving_spec, output_spec, checked, fps=fps, audio=audio,
            find_best_frame=find_best_frame, best_frame=best_frame, trim=trim, style=style, track=track,
            normalize=normalize, overwrite=overwrite, on_progress=on_progress, blend=blend,
            loop_driving=loop_driving, reference=reference)
    if loop_driving:
        raise AnimcliError("--loop-driving repeats the driving video under a longer source video; the source is a "
                           "photo")
    if audio == "source":
        raise AnimcliError("--audio source takes the source video's sound; the source is a photo")
    source = source_path if isinstance(source_path, np.ndarray) else read_image(source_path)
    name = "the source" if isinstance(source_path, np.ndarray) else str(source_path)
    targets = source_targets(source, animator.size, checked.faces, checked.crop_source, name)
    paster = None
    if checked.paste_back:
        from animcli.crop.paste_back import FacePaster

        paster = FacePaster(source.shape, [target.square for target in targets],
                            [target.head for target in targets], blend=blend)
    with open_driving(driving_spec, animator.size, trim=trim, crop=checked.crop, track=track,
                      face=checked.driving_face) as driving:
        check_driving_photo(animator, driving, reference, find_best_frame, best_frame, output_spec)
        initials, chosen, chosen_by = reference_motions(animator, [target.image for target in targets], driving,
                                                        reference=reference, best_frame=best_frame,
                                                        find_best_frame=find_best_frame, crop=checked.crop)
        composer = _Composer(source, targets, paster, style, animator)
        if driving.photo:
            return _write_still(animator, targets, driving, initials, composer, output_spec, fps, overwrite,
                                chosen_by)
        return _write_video(animator, targets, driving, initials, composer, output_spec, fps=fps,
                            audio=audio, normalize=normalize, overwrite=overwrite, on_progress=on_progress,
                            chosen=chosen, chosen_by=chosen_by)


def source_targets(source: np.ndarray, size: int, faces: FaceSelection | None, crop: bool,
                   name: str = "the source") -> list[Target]:
    """What to animate in a still ``source``: each chosen face (``faces``), its largest face (``crop``), or all
    of it."""
    from animcli.crop import CropOptions, crop_source_image, photo_faces

    if faces is not None:
        return [Target(face.box.crop(source, size), face.box, face.head)
                for face in photo_faces(source, faces, CropOptions(size=size), name)]
    if crop:
        image, box = crop_source_image(source, size=size)
        return [Target(image, box)]
    return [Target(source)]


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


class _Composer:
    """The frames to write for the batches of a still source (one batch per target)."""

    def __init__(self, source: np.ndarray, targets: list[Target], paster: object | None, style: OutputStyle,
                 animator: Animator) -> None:
        self.source, self.targets, self.paster, self.style = source, targets, paster, style
        self.single = len(targets) == 1
        if self.single:
            column = resize_square(targets[0].image, style.output_size or animator.size)
            if style.side_by_side and style.show_keypoints:
                kp_source = animator.source_keypoints(targets[0].image)
                column = column if kp_source is None else draw_keypoints(column, kp_source)
            self.column = column
        else:
            self.column = source  # the whole photo beside the whole result

    def frames(self, batches: list[AnimatedBatch], predictions: list[np.ndarray]) -> list[np.ndarray]:
        if self.single:
            finish = None
            if self.paster is not None:
                def finish(prediction: np.ndarray) -> np.ndarray:
                    return self.paster.paste(self.source, [prediction])
            return compose_frames(batches[0], predictions[0], self.column, self.style, finish)
        frames = []
        for i, driving in enumerate(batches[0].driving):
            result = self.paster.paste(self.source, [prediction[i] for prediction in predictions])
            frames.append(side_by_side(self.column, driving, result) if self.style.side_by_side else result)
        return frames


def _write_still(animator: Animator, targets: list[Target], driving: Driving, initials: list[Motion | None],
                 composer: _Composer, output_spec: str | Path, fps: float | None, overwrite: bool,
                 chosen_by: str | None) -> AnimationResult:
    """A driving photo: one still result (an image file, or a one-frame video)."""
    [batches] = list(animator.animate_many([target.image for target in targets], driving.frames, initials))
    [frame] = composer.frames(batches, [batch.prediction_uint8 for batch in batches])
    if is_photo(output_spec):
        write_image(output_spec, frame)
        size, output_fps = (frame.shape[1], frame.shape[0]), None
    else:
        output_fps = fps or DEFAULT_FRAME_DIR_FPS
        with open_writer(output_spec, output_fps, overwrite=overwrite) as writer:
            writer.write(frame)
        size = writer.frame_size
    return AnimationResult(frames=1, fps=output_fps, best_frame=None, best_frame_by=chosen_by, frame_size=size,
                           faces=len(targets))


def _write_video(animator: Animator, targets: list[Target], driving: Driving, initials: list[Motion | None],
                 composer: _Composer, output_spec: str | Path, *, fps: float | None, audio: bool | AudioSource,
                 normalize: Normalization, overwrite: bool, on_progress: Callable[[int, int | None], None] | None,
                 chosen: tuple[int, ...] | None, chosen_by: str | None) -> AnimationResult:
    stretch_clip = normalize == "clip"
    output_fps = fps or driving.fps
    audio_from = driving.audio_path if audio in (True, "driving") else None
    done = 0
    held: list[AnimatedBatch] = []
    with open_writer(output_spec, output_fps, audio_from=audio_from, audio_start=driving.audio_start,
                     overwrite=overwrite) as writer:
        def write(item: tuple[list[AnimatedBatch], list[np.ndarray]]) -> None:
            writer.write_many(composer.frames(*item))

        # Composing and encoding run in a background thread while the model animates the next batch.
        with Background(write, depth=WRITE_QUEUE_BATCHES) as background:
            for batches in animator.animate_many([target.image for target in targets], driving.frames, initials,
                                                 fps=driving.fps):
                if stretch_clip:
                    held.append(batches[0])
                else:
                    background.submit((batches, [batch.prediction_uint8 for batch in batches]))
                done += len(batches[0].driving)
                if on_progress is not None:
                    on_progress(done, driving.total)
            if held:
                stretched = stretch_clip_uint8(np.concatenate([batch.prediction for batch in held]))
                ends = np.cumsum([len(batch.driving) for batch in held])[:-1]
                for batch, predictions in zip(held, np.split(stretched, ends), strict=True):
                    background.submit(([batch], [predictions]))
    audio_dropped = "the output type holds no audio" if audio_from is not None and not writer.carries_audio else None
    return AnimationResult(frames=done, fps=output_fps, best_frame=None if chosen is None else chosen[0],
                           best_frame_by=chosen_by, frame_size=writer.frame_size, audio_dropped=audio_dropped,
                           faces=len(targets), best_frames=chosen if chosen is not None and len(chosen) > 1 else None)
