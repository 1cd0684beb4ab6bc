"""`animcli crop` as one library call: read the input, find the crops, write them, describe them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from animcli.common.errors import AnimcliError
from animcli.common.files import check_output, sha256_of_file
from animcli.crop.cutting import (
    find_segments,
    image_crop_boxes,
    official_commands,
    photo_faces,
    segment_paths,
    segment_record,
    write_segments,
)
from animcli.crop.options import CropOptions
from animcli.crop.selection import FaceSelection
from animcli.crop.sidecar import FACE_FILE, SIDECAR_NAME, FaceEntry, FacesSidecar, original_reference, write_sidecar
from animcli.crop.tubes import Segment
from animcli.media import IMAGE_SUFFIXES, STDIO, open_video, read_image, write_image

DEFAULT_VIDEO_OUTPUT = Path("crop.mp4")


@dataclass(frozen=True)
class CropResult:
    """What was cut: one JSON-ready record per output (with its ffmpeg ``command`` when only printed)."""

    input: str
    records: list[dict[str, Any]]
    from_video: bool
    sidecar: Path | None = None  # crop --faces: the faces.json written beside the crops

    def as_dict(self) -> dict[str, Any]:
        record = {"input": self.input, "segments": self.records}
        return record if self.sidecar is None else record | {"sidecar": str(self.sidecar)}


def run(input_path: str, output: Path | None, options: CropOptions, *, print_commands: bool = False) -> CropResult:
    """Crop an image, a video, a frame folder or ``-`` (stdin) into ``output`` (numbered when several).

    ``print_commands`` writes nothing: each record gets the ffmpeg command the official crop-video.py would
    print instead (videos only).
    """
    is_image = input_path != STDIO and Path(input_path).suffix.lower() in IMAGE_SUFFIXES
    if is_image:
        return CropResult(input_path, _crop_image(input_path, output, options, print_commands), from_video=False)
    return CropResult(input_path, _crop_video(input_path, output, options, print_commands), from_video=True)


def crop_faces(input_path: str, folder: Path, selection: FaceSelection, options: CropOptions) -> CropResult:
    """``crop --faces``: one crop per chosen face of a photo, ``face-N.png`` (N counted from the left), and the
    ``faces.json`` sidecar that ``paste-back`` reads, all in ``folder``. Nothing is written unless every face
    was found."""
    if input_path == STDIO or Path(input_path).suffix.lower() not in IMAGE_SUFFIXES:
        raise AnimcliError(f"--faces cuts the faces of a photo ({', '.join(IMAGE_SUFFIXES)}); {input_path} is not one "
                           "(for videos use --face)")
    if folder.suffix.lower() in IMAGE_SUFFIXES or (folder.exists() and not folder.is_dir()):
        raise AnimcliError(f"{folder}: --faces writes face-N.png and {SIDECAR_NAME} into a folder; give -o FOLDER")
    image = read_image(input_path)
    faces = photo_faces(image, selection, options, input_path)
    check_output(folder / SIDECAR_NAME)
    entries = tuple(FaceEntry(face.number, FACE_FILE.format(number=face.number), tuple(face.box.as_xywh()),
                              tuple(round(value, 2) for value in (face.head.left, face.head.top, face.head.width,
                                                                  face.head.height)))
                    for face in faces)
    for face, entry in zip(faces, entries, strict=True):
        write_image(folder / entry.file, face.box.crop(image, options.size))
    sidecar = FacesSidecar(original_reference(Path(input_path), folder), image.shape[1], image.shape[0],
                           sha256_of_file(Path(input_path)), options.size, entries)
    write_sidecar(folder / SIDECAR_NAME, sidecar)
    records = [segment_record(Segment(0, 0, face.box), folder / entry.file, None) | {"face": face.number}
               for face, entry in zip(faces, entries, strict=True)]
    return CropResult(input_path, records, from_video=False, sidecar=folder / SIDECAR_NAME)


def _crop_image(input_path: str, output: Path | None, options: CropOptions,
                print_commands: bool) -> list[dict[str, Any]]:
    if print_commands:
        raise AnimcliError("--print-commands applies to videos")
    if output is None:
        raise AnimcliError("missing --output/-o")
    image = read_image(input_path)
    boxes = image_crop_boxes(image, options, input_path)
    outputs = segment_paths(output, len(boxes))
    for box, path in zip(boxes, outputs, strict=True):
        write_image(path, box.crop(image, options.size))
    return [segment_record(Segment(0, 0, box), path, None) for box, path in zip(boxes, outputs, strict=True)]


def _crop_video(input_path: str, output: Path | None, options: CropOptions,
                print_commands: bool) -> list[dict[str, Any]]:
    with open_video(input_path) as reader:
        segments = find_segments(reader, options)
        outputs = segment_paths(output or DEFAULT_VIDEO_OUTPUT, len(segments))
        records = [segment_record(s, p, reader.fps) for s, p in zip(segments, outputs, strict=True)]
        if print_commands:
            commands = official_commands(input_path, segments, outputs, reader, options.size)
            return [record | {"command": command} for record, command in zip(records, commands, strict=True)]
        write_segments(reader, segments, outputs, options.size)
    return records
