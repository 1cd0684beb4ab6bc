"""Square crops of faces (or any subject) framed like the models' training data, and paste-back.

Images: detect, pick a face, crop. Videos: detect every Nth frame, follow faces with the official tube rule
(`tubes`), cut segments with one fixed square crop each (`cutting`), and stream the cropped frames.
`runner.run` is the whole `animcli crop` command as one call.
"""

from animcli.crop.boxes import Box, CropBox
from animcli.crop.cutting import (
    crop_source_image,
    find_segments,
    image_crop_boxes,
    official_commands,
    segment_frames,
    segment_paths,
    segment_record,
    write_segments,
)
from animcli.crop.options import CropOptions, NoFaceError, parse_box, parse_face
from animcli.crop.paste_back import paste_back
from animcli.crop.runner import CropResult, run
from animcli.crop.track import TrackedSegment
from animcli.crop.tubes import Segment

__all__ = [
    "Box", "CropBox", "CropOptions", "CropResult", "NoFaceError", "Segment", "crop_source_image", "find_segments",
    "image_crop_boxes", "official_commands", "parse_box", "parse_face", "paste_back", "run", "TrackedSegment",
    "segment_frames", "segment_paths", "segment_record", "write_segments",
]
