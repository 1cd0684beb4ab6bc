"""Cutting crops: the square(s) of a still image; for videos, one pass to find the segments (each with one
fixed square crop, the official tube rule, or with `track` a square that follows the face) and another to
stream or write their cropped frames."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.crop.boxes import Box, CropBox
from animcli.crop.detectors import detect_people, get_detector
from animcli.crop.options import AUTO, CropOptions, NoFaceError
from animcli.crop.selection import FaceSelection
from animcli.crop.track import TrackedSegment, tracked_segment
from animcli.crop.tubes import MotionBounds, Segment, segments_from_trajectories, select_faces, track_faces
from animcli.media import VideoReader, VideoWriter, open_writer

# ----------------------------------------------------------------------------------------------- images


def image_crop_boxes(image: np.ndarray, options: CropOptions, name: str = "the image") -> list[CropBox]:
    """The crop square(s) of a still image: one per selected face, or the given box."""
    frame_size = (image.shape[1], image.shape[0])
    if isinstance(options.box, Box):
        return [CropBox.from_user_box(options.box, frame_size)]
    if options.box == AUTO:
        raise AnimcliError("--box auto finds the moving subject of a video; give --box x,y,w,h for an image")
    faces = select_faces(get_detector(options.detector).detect(image), options.face)
    if not faces:
        raise NoFaceError(f"{name}: no face found (detector {options.detector}, face {options.face}); "
                          "try another --detector or give --box x,y,w,h")
    return [CropBox.around(face, options.increase, frame_size) for face in faces]


@dataclass(frozen=True)
class FaceCrop:
    """One face of a photo: its number counted from the left, the detector's head box, the square cut around it."""

    number: int
    head: Box
    box: CropBox


def photo_faces(image: np.ndarray, selection: FaceSelection, options: CropOptions = CropOptions(),
                name: str = "the image") -> list[FaceCrop]:
    """The faces of a still image that ``selection`` (``--faces``) picks, each with its crop square (framed as
    ``crop`` frames a face); raises ``NoFaceError`` when there is no face, ``FaceSelectionError`` when the
    selection does not fit the faces found."""
    heads = get_detector(options.detector).detect(image)
    if not heads:
        raise NoFaceError(f"{name}: no face found (detector {options.detector}); try another --detector")
    frame_size = (image.shape[1], image.shape[0])
    return [FaceCrop(number, head, CropBox.around(head, options.increase, frame_size))
            for number, head in selection.pick(heads, name)]


def crop_source_image(image: np.ndarray, size: int = 256, **options: object) -> tuple[np.ndarray, CropBox]:
    """The source image cropped around its (largest) face, and the square it was cut from (for paste-back).

    `options` are `CropOptions` fields (increase, detector, face, box).
    """
    box = image_crop_boxes(image, CropOptions(size=size, **options))[0]
    return box.crop(image, size), box


# ----------------------------------------------------------------------------------------------- videos


def find_segments(reader: VideoReader, options: CropOptions) -> list[Segment]:
    """One pass over the video: the segments to cut, in time order. Raises NoFaceError if there are none."""
    if isinstance(options.box, Box):
        last = _count_frames(reader) - 1
        return [Segment(0, last, CropBox.from_user_box(options.box, reader.size))]
    if options.box == AUTO:
        return [_motion_segment(reader, options)]
    detector = get_detector(options.detector)
    frames_read = [0]

    def detections() -> Iterator[tuple[int, list[Box]]]:
        for index, frame in enumerate(reader):
            frames_read[0] = index + 1
            if index % options.every == 0:
                yield index, select_faces(detector.detect(frame), options.face)

    one_second = max(round(reader.fps), 1)
    max_gap = max(options.every, one_second // 2)
    trajectories = track_faces(detections(), options.iou_with_initial, max_gap, follow=options.track)
    # A face still there at the last sampled frame stays to the end: with --every N the last N-1 frames are
    # never sampled, and would otherwise be cut off.
    last_sampled = (frames_read[0] - 1) // options.every * options.every
    for trajectory in trajectories:
        if trajectory.end == last_sampled < frames_read[0] - 1:
            trajectory.boxes[frames_read[0] - 1] = trajectory.boxes[last_sampled]
    min_frames = one_second if options.min_frames is None else options.min_frames
    if options.track:
        segments: list[Segment] = [tracked_segment(t, options.increase, reader.fps, reader.size)
                                   for t in trajectories if t.end - t.start + 1 >= min_frames]
    else:
        segments = segments_from_trajectories(trajectories, options.increase, min_frames, reader.size)
    if not segments:
        found = "no face found" if not trajectories else f"no face stays in frame for {min_frames} frames"
        raise NoFaceError(f"{reader.name}: {found} (detector {options.detector}); try another --detector, "
                          "a lower --min-frames, or --box")
    return segments


def segment_frames(reader: VideoReader, segment: Segment, size: int) -> Iterator[np.ndarray]:
    for index, frame in enumerate(reader):
        if index > segment.end:
            return
        if index >= segment.start:
            yield segment.crop_frame(frame, index, size)


def segment_paths(output: Path, count: int) -> list[Path]:
    """`output` for a single segment; `stem-000.ext`, `stem-001.ext`, … for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{index:03d}{output.suffix}") for index in range(count)]


def write_segments(reader: VideoReader, segments: list[Segment], outputs: list[Path], size: int) -> None:
    """One more pass over the video, writing every segment (with its stretch of the audio) as it goes."""
    writers: dict[int, VideoWriter] = {}
    try:
        for index, frame in enumerate(reader):
            for number, segment in enumerate(segments):
                if index == segment.start:
                    writers[number] = open_writer(outputs[number], reader.fps, audio_from=reader.path,
                                                  audio_start=segment.start / reader.fps)
                if number in writers:
                    writers[number].write(segment.crop_frame(frame, index, size))
                if index == segment.end:
                    writers.pop(number).close()
            if index >= max(s.end for s in segments):
                break
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise


def official_commands(input_path: str, segments: list[Segment], outputs: list[Path], reader: VideoReader,
                      size: int) -> list[str]:
    """The ffmpeg commands the official crop-video.py prints, with our square in-frame boxes (the official
    script clips its boxes to the frame, which squashes a crop that reaches past an edge)."""
    if any(isinstance(segment, TrackedSegment) for segment in segments):
        raise AnimcliError("--print-commands cuts one fixed box per segment: it cannot express --track")
    commands = []
    fps = reader.fps
    for segment, output in zip(segments, outputs, strict=True):
        box = segment.crop_box
        crop = f"crop={box.side}:{box.side}:{box.x}:{box.y}, scale={size}:{size}"
        timing = ["-ss", f"{segment.start / fps:.3f}", "-t", f"{segment.frame_count / fps:.3f}"]
        commands.append(shlex.join(["ffmpeg", "-i", input_path, *timing, "-filter:v", crop, str(output)]))
    return commands


def segment_record(segment: Segment, output: Path | None, fps: float | None) -> dict:
    """The JSON description of a segment (times only for videos)."""
    record = {"output": None if output is None else str(output), "start_frame": segment.start,
              "end_frame": segment.end, "box": segment.crop_box.as_xywh()}
    if fps:
        record |= {"start_time": round(segment.start / fps, 3), "end_time": round((segment.end + 1) / fps, 3)}
    if isinstance(segment, TrackedSegment):
        record["boxes"] = segment.boxes()  # [x, y, side] of every frame; "box" is the first one, rounded
    return record


def _motion_segment(reader: VideoReader, options: CropOptions) -> Segment:
    """`--box auto`: what moves over the whole video, widened to the whole person it belongs to.

    Frame differences miss the parts of a subject that stay still (a taichi performer's head and feet), so
    upright people found by OpenCV's HOG detector (once per second of video) who cover a quarter or more of
    the moving region join the box. Where people are found, only the motion on them counts: moving title
    text or a logo beside the performer does not widen the box to the whole frame.
    """
    motion = MotionBounds()
    people: list[Box] = []
    every = max(round(reader.fps), 1)
    count = 0
    for index, frame in enumerate(reader):
        motion.add(frame)
        if index % every == 0:
            people.extend(detect_people(frame))
        count += 1
    moving = (people and motion.box(within=people)) or motion.box()
    if moving is None:
        raise NoFaceError(f"{reader.name}: nothing moves in the video; give --box x,y,w,h")
    subject = moving
    for person in people:
        if person.overlap_area(moving) >= moving.area / 4:
            subject = subject.union(person)
    return Segment(0, count - 1, CropBox.around(subject, options.increase, reader.size))


def _count_frames(reader: VideoReader) -> int:
    if reader.frame_count is not None:
        return reader.frame_count
    return sum(1 for _ in reader)
