"""animate's options, their combinations checked before anything is read or written."""

from __future__ import annotations

from dataclasses import dataclass

from animcli.common.choices import Blend, Normalization
from animcli.common.errors import AnimcliError
from animcli.crop.selection import FaceSelection, parse_faces
from animcli.inference.animator import Animator
from animcli.media.images import check_pixels
from animcli.workflows.output import OutputStyle


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
