"""File-level animation: read a source and a driving input, animate, write the result.

This is what ``animcli animate`` runs; it is a library function so scripts can call it too. The source is a
photo — one face, every face (``faces``), or the whole picture — or a video (``workflows.video_source``); the
driving input is a video or a photo (``workflows.driving``). Everything reaches the model through the
:class:`Animator`, whatever its family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.common.choices import AudioSource, Blend, Normalization
from animcli.common.errors import AnimcliError
from animcli.crop.boxes import Box, CropBox
from animcli.crop.selection import FaceSelection
from animcli.inference.animator import AnimatedBatch, Animator
from animcli.inference.overlap import Background
from animcli.media import DEFAULT_FRAME_DIR_FPS, open_writer, read_image, resize_square, write_image
from animcli.media.trim import Trim
from animcli.media.visualize import draw_keypoints, side_by_side
from animcli.models.base import Motion
from animcli.workflows.animate_options import check_options
from animcli.workflows.driving import Driving, is_photo, open_driving
from animcli.workflows.output import (
    WRITE_QUEUE_BATCHES,
    AnimationResult,
    OutputStyle,
    compose_frames,
    stretch_clip_uint8,
)
from animcli.workflows.reference_pose import check_driving_photo, reference_motions


@dataclass(frozen=True)
class Target:
    """One part of a still source that the model animates: a face crop (with the square it was cut from and the
    detector's head box, for paste-back) or the whole picture."""

    image: np.ndarray
    square: CropBox | None = None
    head: Box | None = None


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
