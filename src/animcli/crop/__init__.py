"""Square crops of faces (or any subject) framed like the models' training data, and paste-back.

Images: detect, pick a face (or several: `selection`), crop. Videos: detect every Nth frame, follow faces with
the official tube rule (`tubes`), cut segments with one fixed square crop each (`cutting`), and stream the
cropped frames. `paste_back` blends animated crops back into the full picture; `sidecar` records what
`crop --faces` cut. `runner.run` is the whole `animcli crop` command as one call.
"""

from animcli.crop.boxes import Box, CropBox
from animcli.crop.cutting import (
    FaceCrop,
    crop_source_image,
    find_segments,
    image_crop_boxes,
    official_commands,
    photo_faces,
    segment_frames,
    segment_paths,
    segment_record,
    write_segments,
)
from animcli.crop.options import CropOptions, NoFaceError, parse_box, parse_face
from animcli.crop.paste_back import FacePaster, SquareAt, paste_back, seam_step
from animcli.crop.runner import CropResult, crop_faces, run
from animcli.crop.selection import FaceSelection, FaceSelectionError, parse_faces
from animcli.crop.track import TrackedSegment
from animcli.crop.tubes import Segment

__all__ = [
    "Box", "CropBox", "CropOptions", "CropResult", "FaceCrop", "FacePaster", "FaceSelection", "FaceSelectionError",
    "NoFaceError", "Segment", "SquareAt", "TrackedSegment", "crop_faces", "crop_source_image", "find_segments",
    "image_crop_boxes", "official_commands", "parse_box", "parse_face", "parse_faces", "paste_back", "photo_faces",
    "run", "seam_step", "segment_frames", "segment_paths", "segment_record", "write_segments",
]
