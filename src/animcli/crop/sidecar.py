"""``faces.json``: what ``crop --faces`` cut out of a photo, so that ``paste-back`` can put the animated crops back.

It names the original photo (relative to the sidecar's folder when it lies below it or beside it, so a folder
moved together with its photo still works), the photo's size and sha256 (a different photo under that name is
refused), the crops' size, and per face its number (from the left), its file, its crop square and the
detector's head box, both [x, y, width, height] as ``crop --json`` gives boxes (the head box lets overlapping faces
yield to each other's heads when pasted back).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from animcli.common.errors import AnimcliError
from animcli.common.files import atomic_path, note_input
from animcli.crop.boxes import Box, CropBox

SIDECAR_NAME = "faces.json"
FACE_FILE = "face-{number}.png"
FORMAT = "animcli-faces"
VERSION = 1


class SidecarError(AnimcliError):
    """A faces.json that cannot be used (unreadable, not ours, or not matching its photo)."""


@dataclass(frozen=True)
class FaceEntry:
    number: int  # counted from the left, as --faces numbers faces
    file: str  # the crop, relative to the sidecar's folder
    box: tuple[int, int, int, int]  # x, y, width, height of the square it was cut from (pixels of the original)
    head: tuple[float, float, float, float]  # x, y, width, height of the detector's head box

    @property
    def crop_box(self) -> CropBox:
        return CropBox(self.box[0], self.box[1], self.box[2])

    @property
    def head_box(self) -> Box:
        return Box.from_xywh(*self.head)


@dataclass(frozen=True)
class FacesSidecar:
    original: str  # the photo, relative to the sidecar's folder where possible
    width: int
    height: int
    sha256: str
    crop_size: int
    faces: tuple[FaceEntry, ...]

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["faces"] = [asdict(face) | {"box": list(face.box), "head": list(face.head)} for face in self.faces]
        return {"format": FORMAT, "version": VERSION, **record}

    def original_path(self, sidecar: Path) -> Path:
        path = Path(self.original)
        return path if path.is_absolute() else sidecar.parent / path

    def face(self, number: int) -> FaceEntry:
        for face in self.faces:
            if face.number == number:
                return face
        numbers = ", ".join(str(face.number) for face in self.faces)
        raise SidecarError(f"face {number} is not in the sidecar (it holds face {numbers})")


def original_reference(original: Path, folder: Path) -> str:
    """How the sidecar in ``folder`` names ``original``: relative when the two share a parent, else absolute."""
    original, folder = original.resolve(), folder.resolve()
    try:
        relative = os.path.relpath(original, folder)
    except ValueError:  # another drive (Windows)
        return str(original)
    return relative if not relative.startswith(os.pardir + os.sep + os.pardir) else str(original)


def write_sidecar(path: Path, sidecar: FacesSidecar) -> None:
    record = sidecar.as_dict()
    faces = record.pop("faces")
    # One line per face: the boxes read as boxes.
    lines = [json.dumps(face) for face in faces]
    text = json.dumps(record, indent=2)[:-2] + ',\n  "faces": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def read_sidecar(path: Path) -> FacesSidecar:
    """The sidecar at ``path`` (a faces.json, or a folder holding one); one-line errors for anything unusable."""
    if path.is_dir():
        path = path / SIDECAR_NAME
    if not path.is_file():
        raise SidecarError(f"{path}: no such file (write it with `animcli crop PHOTO --faces all -o FOLDER`)")
    note_input(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{path}: not a readable faces.json ({type(exc).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SidecarError(f"{path}: not a faces.json written by `animcli crop --faces`")
    if record.get("version") != VERSION:
        raise SidecarError(f"{path}: faces.json version {record.get('version')!r} (this animcli reads {VERSION})")
    try:
        faces = tuple(FaceEntry(int(face["number"]), str(face["file"]), tuple(int(v) for v in face["box"]),
                                tuple(float(v) for v in face["head"])) for face in record["faces"])
        sidecar = FacesSidecar(str(record["original"]), int(record["width"]), int(record["height"]),
                               str(record["sha256"]), int(record["crop_size"]), faces)
    except (KeyError, TypeError, ValueError) as exc:
        raise SidecarError(f"{path}: faces.json is missing or has a malformed {exc}") from None
    if not faces or any(len(face.box) != 4 or face.box[2] != face.box[3] or len(face.head) != 4 for face in faces):
        raise SidecarError(f"{path}: faces.json lists no usable face")
    return sidecar
