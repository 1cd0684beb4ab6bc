"""Video to video: every frame of a source video animated by the driving frame at the same instant.

Relative mode keeps the subject's own motion: each source frame is rendered in its own pose plus the driving
motion's change since its reference frame; absolute mode gives it the driving pose. Source frames are decoded,
cropped (``--crop``: the source video's longest face segment, ``--track``: a crop that follows the face) and
encoded one at a time, each once; results are pasted back into their own full-resolution frame
(``--paste-back``) and streamed to the writer, so memory stays flat in the videos' length.

Length: the shorter of the two (``--loop-driving`` repeats the driving video until the source ends; a driving
photo drives every frame). Frame rate: the source's; the two must have the same one, since frames are paired one
to one (a folder of frames has no clock and takes the other's). Audio: the source's, or ``--audio driving``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from animcli.common.choices import AudioSource, Blend, Normalization
from animcli.common.errors import AnimcliError
from animcli.inference.animator import AnimatedBatch, Animator
from animcli.inference.overlap import Background
from animcli.media import VideoReader, open_video, open_writer, resize_square
from animcli.media.trim import Trim
from animcli.media.visualize import draw_keypoints, side_by_side
from animcli.models.base import Motion
from animcli.workflows.animate_options import Checked
from animcli.workflows.driving import Driving, looped, open_driving
from animcli.workflows.output import WRITE_QUEUE_BATCHES, AnimationResult, OutputStyle, upscale_square
from animcli.workflows.reference_pose import check_driving_photo, reference_motions

#: frame rates closer than this (relative) count as the same (29.97 and 30 do not).
FPS_TOLERANCE = 1e-4


def animate_video_source(animator: Animator, source_spec: str | Path, driving_spec: str | Path | np.ndarray,
                         output_spec: str | Path, checked: Checked, *, fps: float | None,
                         audio: bool | AudioSource, find_best_frame: bool, best_frame: int | None,
                         trim: Trim | None, style: OutputStyle, track: bool, normalize: Normalization,
                         overwrite: bool, on_progress: Callable[[int, int | None], None] | None, blend: Blend,
                         loop_driving: bool, reference: str | Path | np.ndarray | None) -> AnimationResult:
    """``animate_files`` for a source video (see the module docstring); the options are checked already."""
    if checked.faces is not None:
        raise AnimcliError("--faces animates the faces of a photo; for a source video use --crop [--track] "
                           "(its largest face)")
    if normalize == "clip":
        raise AnimcliError("--normalize clip stretches the clip of a still source; a source video streams")
    with open_video(source_spec) as source, open_driving(driving_spec, animator.size, trim=trim, crop=checked.crop,
                                                           track=track, face=checked.driving_face) as driving:
        check_driving_photo(animator, driving, reference, find_best_frame, best_frame, output_spec)
        _check_frame_rates(source, driving)
        if loop_driving and driving.photo:
            loop_driving = False  # a photo drives every frame anyway
        frames = SourceFrames(source, animator.size, checked.crop_source, track, checked.paste_back)
        initial, chosen, chosen_by = _reference(animator, frames, driving, reference, best_frame, find_best_frame,
                                                checked.crop)
        output_fps = fps or source.fps
        audio_from, audio_start = _audio(audio, source, frames, driving)
        repeat = driving.photo or loop_driving
        audio_loop = (_driving_period(driving) if loop_driving and audio_from is not None
                      and audio_from == driving.audio_path else None)
        total = frames.count if repeat or driving.total is None or frames.count is None \
            else min(frames.count, driving.total)
        driving_frames = looped(driving.frames) if repeat else driving.frames
        composer = _Composer(style, blend, animator)
        done = 0
        with open_writer(output_spec, output_fps, audio_from=audio_from, audio_start=audio_start,
                         overwrite=overwrite, audio_loop=audio_loop) as writer:
            def write(batch: AnimatedBatch) -> None:
                writer.write_many(composer.frames(batch))

            with Background(write, depth=WRITE_QUEUE_BATCHES) as background:
                for batch in animator.animate_video(frames, driving_frames, initial, fps=source.fps):
                    background.submit(batch)
                    done += len(batch.prediction)
                    if on_progress is not None:
                        on_progress(done, total)
    audio_dropped = "the output type holds no audio" if audio_from is not None and not writer.carries_audio else None
    return AnimationResult(frames=done, fps=output_fps, best_frame=chosen, best_frame_by=chosen_by,
                           frame_size=writer.frame_size, audio_dropped=audio_dropped, source_video=True)


class SourceFrames:
    """The source video's frames as (model input, context): the frame itself, or with ``crop`` the crop of its
    longest face segment (one fixed square, or with ``track`` one that follows the face). With ``paste_back`` the
    context is (full frame, square) for pasting the result back; otherwise None. Re-iterable."""

    def __init__(self, video: VideoReader, size: int, crop: bool, track: bool, paste_back: bool) -> None:
        self.video, self.size, self.paste_back = video, size, paste_back
        self.segment = None
        self.count = video.frame_count
        if crop:
            from animcli.crop import CropOptions, find_segments

            self.segment = max(find_segments(video, CropOptions(size=size, track=track, min_frames=1)),
                               key=lambda segment: segment.frame_count)
            self.count = self.segment.frame_count

    @property
    def start_seconds(self) -> float:
        return 0.0 if self.segment is None else self.segment.start / self.video.fps

    def __iter__(self) -> Iterator[tuple[np.ndarray, Any]]:
        segment = self.segment
        for index, frame in enumerate(self.video):
            if segment is None:
                yield frame, ((frame, None) if self.paste_back else None)
                continue
            if index < segment.start:
                continue
            if index > segment.end:
                return
            square = _square(segment, index)
            yield segment.crop_frame(frame, index, self.size), ((frame, square) if self.paste_back else None)

    def first(self) -> np.ndarray:
        """The first frame animated (what ``--find-best-frame`` compares the driving frames with)."""
        for image, _ in self:
            return image
        raise AnimcliError(f"{self.video.name}: the video has no frames")


def _square(segment: Any, index: int) -> Any:
    from animcli.crop import SquareAt, TrackedSegment

    if isinstance(segment, TrackedSegment):
        x, y = segment.corners[index - segment.start]
        return SquareAt(x, y, segment.side)
    return segment.crop_box


def _check_frame_rates(source: VideoReader, driving: Driving) -> None:
    """Frames are paired one to one: two clocks must agree (a frame folder or a photo has none)."""
    if driving.photo or driving.fps is None or source.path is None or not driving.clocked:
        return
    if math.isclose(source.fps, driving.fps, rel_tol=FPS_TOLERANCE):
        return
    raise AnimcliError(f"the source video is {source.fps:g} fps and the driving video {driving.fps:g} fps: frames "
                       f"are paired one to one, so convert one to the other's rate first (e.g. ffmpeg -i DRIVING "
                       f"-r {source.fps:g} driving-{source.fps:g}fps.mp4)")


def _reference(animator: Animator, frames: SourceFrames, driving: Driving, reference: Any, best_frame: int | None,
               find_best_frame: bool, crop: bool) -> tuple[Motion | None, int | None, str | None]:
    """The driving motion relative transfer is measured from (None: the first driving frame's); with
    ``find_best_frame`` the driving frame closest in pose to the first source frame."""
    sources = [frames.first() if find_best_frame else None]
    motions, chosen, chosen_by = reference_motions(animator, sources, driving, reference=reference,
                                                   best_frame=best_frame, find_best_frame=find_best_frame, crop=crop)
    return motions[0], None if chosen is None else chosen[0], chosen_by


def _audio(audio: bool | AudioSource, source: VideoReader, frames: SourceFrames, driving: Driving
           ) -> tuple[Path | None, float]:
    """Whose sound the result keeps, and from where in it: the source video's unless ``--audio driving``."""
    if audio is False:
        return None, 0.0
    if audio == "driving":
        if driving.photo:
            raise AnimcliError("--audio driving takes the driving video's sound; the driving input is a photo")
        return driving.audio_path, driving.audio_start
    return (source.path if source.has_audio else None), frames.start_seconds


def _driving_period(driving: Driving) -> float | None:
    """Seconds of one pass of the driving video (what ``--loop-driving`` repeats, sound included)."""
    if driving.total is None or not driving.fps:
        return None
    return driving.total / driving.fps


class _Composer:
    """The frames to write for a batch of a video source: each result (pasted back into its own frame with
    ``--paste-back``), or source | driving | result side by side."""

    def __init__(self, style: OutputStyle, blend: Blend, animator: Animator) -> None:
        self.style, self.blend, self.size = style, blend, animator.size
        self._paster: tuple[Any, Any] | None = None  # (square, FacePaster) of the latest square

    def paster(self, shape: tuple[int, ...], square: Any) -> Any:
        from animcli.crop import FacePaster

        if self._paster is None or self._paster[0] != square or self._paster[1].shape != shape[:2]:
            self._paster = (square, FacePaster(shape, [square], blend=self.blend))
        return self._paster[1]

    def frames(self, batch: AnimatedBatch) -> list[np.ndarray]:
        style = self.style
        out = []
        for i, prediction in enumerate(batch.prediction_uint8):
            driving = batch.driving[i]
            source = batch.source[i]
            if style.output_size is not None:
                prediction = upscale_square(prediction, style.output_size)
                source = resize_square(source, style.output_size)
            if style.show_keypoints and batch.kp_driving is not None:
                driving = draw_keypoints(driving, batch.kp_driving[i])
                prediction = draw_keypoints(prediction, batch.kp_transferred[i])
            context = batch.context[i]
            if context is not None:
                frame, square = context
                source = frame
                prediction = prediction if square is None else self.paster(frame.shape, square).paste(
                    frame, [prediction])
            out.append(side_by_side(source, driving, prediction) if style.side_by_side else prediction)
        return out
