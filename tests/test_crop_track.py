"""`crop --track` and `animate --crop --track`: a crop that follows a drifting face."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_crop import face_on_canvas
from typer.testing import CliRunner

from animcli.cli import app
from animcli.crop import CropBox, crop_source_image
from animcli.crop.detectors import get_detector
from animcli.crop.faces import dlib_available
from animcli.crop.track import crop_subpixel
from animcli.media import open_video, read_image, write_video

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("single_thread")
DETECTOR = "dlib-hog" if dlib_available() else "opencv"
SIZE = 128



@pytest.fixture(scope="module")
def drifting(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A face drifting 240 px right and 40 px down over 40 frames, and its first frame."""
    face = cv2.resize(read_image(shared_dir / "samples/lia-demo/vox/taylor.png"), (96, 96),
                      interpolation=cv2.INTER_AREA)
    frames = face_on_canvas(face, [(10 + 6 * i, 60 + i) for i in range(40)], size=(360, 240))
    path = tmp_path_factory.mktemp("drift") / "drift"
    write_video(path, frames, 20)  # lossless frame folder
    return path, frames[0]


def _faces(frames: list[np.ndarray]) -> list[tuple[float, float, float]]:
    """(centre x, centre y, width) of the largest face in each frame."""
    detector = get_detector(DETECTOR)
    found = []
    for frame in frames:
        face = max(detector.detect(frame), key=lambda box: box.area)
        found.append(((face.left + face.right) / 2, (face.top + face.bottom) / 2, face.width))
    return found


def test_track_keeps_a_drifting_face_centred_and_as_large_as_a_still_crop(drifting, tmp_path: Path) -> None:
    path, first = drifting
    still_width = _faces([crop_source_image(first, SIZE, detector=DETECTOR)[0]])[0][2]
    out = tmp_path / "tracked.mp4"
    result = runner.invoke(app, ["crop", str(path), "-o", str(out), "--size", str(SIZE), "--detector", DETECTOR,
                                 "--track", "--json"])
    assert result.exit_code == 0, result.output
    [segment] = json.loads(result.stdout)["segments"]
    assert (segment["start_frame"], segment["end_frame"]) == (0, 39) and len(segment["boxes"]) == 40
    assert len({side for _, _, side in segment["boxes"]}) == 1  # constant size
    with open_video(out) as reader:
        tracked = _faces(list(reader))
    for centre_x, centre_y, width in tracked:
        assert abs(centre_x - SIZE / 2) < 0.08 * SIZE and abs(centre_y - SIZE / 2) < 0.08 * SIZE
        assert abs(width / still_width - 1) < 0.15
    # The path is smooth: the face does not shake inside the crop.
    centres = np.array([(x, y) for x, y, _ in tracked])
    assert np.abs(np.diff(centres, 2, axis=0)).mean() < 1.5

    # The default fixed box cannot: the first segment's face is far from its centre by the segment's end.
    fixed = runner.invoke(app, ["crop", str(path), "-o", str(tmp_path / "fixed.mp4"), "--size", str(SIZE),
                                "--detector", DETECTOR, "--json", "--min-frames", "5"])
    first_segment = json.loads(fixed.stdout)["segments"][0]
    with open_video(first_segment["output"]) as reader:
        fixed_faces = _faces(list(reader))
    assert max(abs(x - SIZE / 2) for x, _, _ in fixed_faces) > 0.15 * SIZE


def test_track_rejects_fixed_boxes_and_official_commands(drifting, tmp_path: Path) -> None:
    path, _ = drifting
    for extra in (["--box", "0,0,50,50"], ["--print-commands"]):
        result = runner.invoke(app, ["crop", str(path), "-o", str(tmp_path / "x.mp4"), "--track",
                                     "--detector", DETECTOR, *extra])
        assert result.exit_code == 2 and result.output.startswith("animcli: error:"), result.output
        assert "--track" in result.output and not (tmp_path / "x.mp4").exists()


def test_animate_crop_track(drifting, shared_dir: Path, tmp_path: Path) -> None:
    path, _ = drifting
    source = shared_dir / "samples/lia-demo/vox/monroe.png"
    result = runner.invoke(app, ["animate", str(source), str(path), "-o", f"{tmp_path / 'out'}/", "--model", "demo",
                                 "--crop", "--track", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 40
    result = runner.invoke(app, ["animate", str(source), str(path), "-o", str(tmp_path / "x.mp4"), "--model", "demo",
                                 "--track"])
    assert result.exit_code == 2 and "add --crop" in result.output and not (tmp_path / "x.mp4").exists()


def test_subpixel_crop() -> None:
    frame = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(crop_subpixel(frame, 10, 5, 20, 20), CropBox(10, 5, 20).crop(frame, 20))
    half = crop_subpixel(frame, 10.5, 5, 20, 20).astype(int)
    average = (frame[5:25, 10:30].astype(int) + frame[5:25, 11:31]) / 2
    assert np.abs(half - average).max() <= 1
    shrunk = crop_subpixel(frame, 0, 0, 40, 20)  # area-averaged when shrinking
    np.testing.assert_allclose(shrunk, CropBox(0, 0, 40).crop(frame, 20), atol=1)
