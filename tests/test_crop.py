"""`animcli crop` and the crop/paste-back library, on real sample photos/videos and synthetic clips."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from animcli.cli import app
from animcli.crop import Box, CropBox, CropOptions, NoFaceError, crop_source_image, find_segments, paste_back
from animcli.crop.detectors import get_detector
from animcli.crop.faces import dlib_available
from animcli.crop.tubes import track_faces
from animcli.media import open_video, probe_video, read_image, write_image, write_video

SAMPLE_FACES = ["vox/macron.png", "vox/mona_lisa.png", "vox/monroe.png", "vox/taylor.png",
                "ted/subject1.png", "ted/subject2.png", "ted/subject3.png"]
DETECTORS = ["opencv", *(["dlib-hog"] if dlib_available() else [])]
runner = CliRunner()


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "samples" / "lia-demo"


def face_on_canvas(face: np.ndarray, positions: list[tuple[int, int]], size: tuple[int, int] = (360, 240),
                   ) -> np.ndarray:
    """Frames of a flat background with `face` pasted at each (x, y) in turn."""
    width, height = size
    frames = np.full((len(positions), height, width, 3), 90, np.uint8)
    for frame, (x, y) in zip(frames, positions, strict=True):
        frame[y:y + face.shape[0], x:x + face.shape[1]] = face
    return frames


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("name", SAMPLE_FACES)
def test_a_face_is_found_and_cropped_in_each_sample_photo(samples: Path, name: str, detector: str) -> None:
    image = read_image(samples / name)
    crop, box = crop_source_image(image, 128, detector=detector)
    assert crop.shape == (128, 128, 3)
    face = get_detector(detector).detect(image)[0]
    centre_x, centre_y = (face.left + face.right) / 2, (face.top + face.bottom) / 2
    assert box.x < centre_x < box.x + box.side and box.y < centre_y < box.y + box.side
    if name.startswith("vox/"):  # already VoxCeleb crops: our framing should nearly reproduce them
        assert 0.8 < box.side / image.shape[0] < 1.15


def test_cli_crops_a_real_driving_video_with_its_audio(samples: Path, tmp_path: Path) -> None:
    output = tmp_path / "driving.mp4"
    result = runner.invoke(app, ["crop", str(samples / "vox/driving2.mp4"), "-o", str(output), "--size", "128",
                                 "--every", "10", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [segment] = report["segments"]
    assert segment["output"] == str(output)
    info = probe_video(output)
    assert info["size"] == (128, 128) and info["has_audio"]
    assert info["frame_count"] == segment["end_frame"] - segment["start_frame"] + 1 > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driving.mp4"]


def test_a_face_that_jumps_splits_the_video(samples: Path, tmp_path: Path) -> None:
    face = cv2.resize(read_image(samples / "vox/taylor.png"), (96, 96), interpolation=cv2.INTER_AREA)
    frames = face_on_canvas(face, [(20, 40)] * 15 + [(240, 120)] * 15)
    write_video(tmp_path / "jump.mp4", frames, 10)
    result = runner.invoke(app, ["crop", str(tmp_path / "jump.mp4"), "-o", str(tmp_path / "out.mp4"),
                                 "--detector", "opencv", "--every", "2", "--min-frames", "5", "--json"])
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)["segments"]
    # The last sample is frame 28 of 30: the face found there is kept to the last frame (issue 29).
    assert (first["start_frame"], second["end_frame"]) == (0, 29)
    assert first["end_frame"] < 15 <= second["start_frame"]
    assert first["box"][0] + first["box"][2] < 240 < second["box"][0] + second["box"][2]
    for segment in (first, second):
        assert probe_video(segment["output"])["frame_count"] == segment["end_frame"] - segment["start_frame"] + 1


def test_tracking_follows_the_official_rule() -> None:
    still = Box(0, 0, 50, 50)
    moved = Box(200, 0, 250, 50)
    detections = [(0, [still]), (1, [still]), (2, []), (3, [still]), (4, [moved]), (5, [moved])]
    tolerant = track_faces(detections, iou_with_initial=0.25, max_gap=1)
    assert [(t.start, t.end) for t in tolerant] == [(0, 3), (4, 5)]  # one missed frame survives
    strict = track_faces(detections, iou_with_initial=0.25, max_gap=0)
    assert [(t.start, t.end) for t in strict] == [(0, 1), (3, 3), (4, 5)]


@pytest.mark.parametrize("kind", ["image", "video"])
def test_missing_face_fails_cleanly_without_output(tmp_path: Path, kind: str) -> None:
    blank = np.full((120, 160, 3), 128, np.uint8)
    if kind == "image":
        source, output = tmp_path / "blank.png", tmp_path / "out.png"
        write_image(source, blank)
    else:
        source, output = tmp_path / "blank.mp4", tmp_path / "out.mp4"
        write_video(source, np.stack([blank] * 12), 10)
    result = runner.invoke(app, ["crop", str(source), "-o", str(output), "--detector", "opencv"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no face found" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_explicit_and_motion_boxes(tmp_path: Path) -> None:
    image = (np.random.default_rng(0).random((100, 150, 3)) * 255).astype(np.uint8)
    crop, box = crop_source_image(image, 40, box=Box.from_xywh(30, 20, 40, 40))
    assert box == CropBox(30, 20, 40) and np.array_equal(crop, image[20:60, 30:70])

    square = np.full((16, 16, 3), 250, np.uint8)
    frames = face_on_canvas(square, [(100 + 4 * i, 60) for i in range(20)], size=(320, 200))
    write_video(tmp_path / "moving", frames, 10)  # a lossless frame folder
    with open_video(tmp_path / "moving") as reader:
        [segment] = find_segments(reader, CropOptions(box="auto", increase=0.0))
    box = segment.crop_box
    assert (segment.start, segment.end) == (0, 19)
    assert 96 <= box.x <= 100 and box.x + box.side >= 192 and box.y <= 60 and box.y + box.side >= 76


@pytest.mark.parametrize(
    ("tube", "frame_size", "expected"),
    [
        (Box(-37, -102, 301, 236), (256, 256), CropBox(0, 0, 256)),  # bigger than the frame: shrunk to fit
        (Box(-20, 180, 40, 240), (320, 240), CropBox(0, 180, 60)),  # past the corner: shifted inside
        (Box(10, 0, 410, 100), (640, 200), CropBox(110, 0, 200)),  # wide: as tall as the frame, centred
    ],
)
def test_crop_boxes_are_square_and_inside_the_frame(tube: Box, frame_size: tuple[int, int],
                                                    expected: CropBox) -> None:
    assert CropBox.around(tube, 0.0, frame_size) == expected


def test_crops_are_real_pixels_never_stretched_edges(samples: Path) -> None:
    with open_video(samples / "vox/driving2.mp4") as reader:
        [segment] = find_segments(reader, CropOptions(every=10))
        frame = next(iter(reader))
    box = segment.crop_box
    assert box.side == min(frame.shape[:2]) and box.x >= 0 and box.y >= 0  # the face box outgrows the frame
    assert box.x + box.side <= frame.shape[1] and box.y + box.side <= frame.shape[0]
    np.testing.assert_array_equal(box.crop(frame, box.side), frame[box.y:box.y + box.side, box.x:box.x + box.side])


def test_image_and_video_crops_report_alike(samples: Path, tmp_path: Path) -> None:
    image = runner.invoke(app, ["crop", str(samples / "vox/macron.png"), "-o", str(tmp_path / "face.png"),
                                "--size", "64", "--box", "10,20,100,100"])
    video = runner.invoke(app, ["crop", str(samples / "taichi/driving2.mp4"), "-o", str(tmp_path / "body.mp4"),
                                "--size", "64", "--box", "10,20,100,100"])
    assert image.exit_code == 0 and video.exit_code == 0, image.output + video.output
    assert image.stderr == f"wrote {tmp_path / 'face.png'} (64x64, from the 100x100 square at 10,20)\n"
    assert video.stderr == f"wrote {tmp_path / 'body.mp4'} (64x64, frames 0-279, from the 100x100 square at 10,20)\n"


def test_a_box_outside_the_frame_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "image.png", np.zeros((40, 60, 3), np.uint8))
    result = runner.invoke(app, ["crop", str(tmp_path / "image.png"), "-o", str(tmp_path / "out.png"),
                                 "--box", "70,0,10,10"])
    assert result.exit_code == 2 and result.output == "animcli: error: --box 70,0,10,10 lies outside the 60x40 frame\n"


def test_motion_box_holds_the_whole_moving_person(samples: Path) -> None:
    # The performer moves mostly his arms; his head (top ≈ row 10) and feet (bottom ≈ row 245) stay still.
    with open_video(samples / "taichi/driving2.mp4") as reader:
        [segment] = find_segments(reader, CropOptions(box="auto", increase=0.0))
    box = segment.crop_box
    assert box.y <= 5 and box.y + box.side >= 250 and box.side <= 256


def test_print_commands_writes_nothing(samples: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["crop", str(samples / "ted/driving2.mp4"), "-o", str(tmp_path / "c.mp4"),
                                 "--print-commands", "--every", "10"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ffmpeg -i ") and "crop=" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_no_face_error_is_an_animcli_error() -> None:
    with pytest.raises(NoFaceError):
        crop_source_image(np.zeros((64, 64, 3), np.uint8), detector="opencv")


def test_paste_back_keeps_size_and_far_pixels(samples: Path) -> None:
    source = read_image(samples / "ted/subject1.png")
    crop, box = crop_source_image(source, 64, detector="opencv")
    animated = np.clip(crop.astype(int) + 12, 0, 255).astype(np.uint8)  # a generator's colour drift
    animated[24:40, 24:40] = (255, 0, 0)  # and a change in the middle of the face
    pasted = paste_back(source, animated, box)
    assert pasted.shape == source.shape and pasted.dtype == np.uint8
    outside = np.ones(source.shape[:2], bool)
    outside[max(box.y, 0):box.y + box.side, max(box.x, 0):box.x + box.side] = False
    np.testing.assert_array_equal(pasted[outside], source[outside])
    middle = pasted[box.y + box.side // 2, box.x + box.side // 2].astype(int)
    assert middle[0] > 200 and middle[1] < 60  # the animated centre is pasted in
    # Colour matching removes the drift around the face: the band near the border agrees with the source.
    band = (slice(box.y + 3, box.y + 8), slice(box.x + 8, box.x + box.side - 8))
    assert np.abs(pasted[band].astype(int) - source[band]).mean() < 4


def test_without_dlib_auto_falls_back_to_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    from animcli.crop import detectors, faces

    monkeypatch.setattr(faces, "dlib_available", lambda: False)
    assert detectors.get_detector("auto").name == "opencv"
    with pytest.raises(detectors.DetectorUnavailable, match="faces"):
        detectors.get_detector("dlib-hog")


def test_motion_box_ignores_moving_text_beside_the_person(samples: Path, tmp_path: Path) -> None:
    # The taichi clip on a canvas twice as wide, with a caption scrolling through its right half: only the
    # motion on the performer (HOG finds him) may decide the box, not the caption's.
    with open_video(samples / "taichi/driving2.mp4") as reader:
        clip = np.stack(list(reader))[:60]
    frames = np.zeros((len(clip), 256, 512, 3), np.uint8)
    frames[:, :, :256] = clip
    for index, frame in enumerate(frames):
        cv2.putText(frame, "LIVE 2026", (300 + 2 * index, 40 + index), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                    (255, 255, 255), 3)
    write_video(tmp_path / "captioned", frames, 25)  # a lossless frame folder
    with open_video(tmp_path / "captioned") as reader:
        [segment] = find_segments(reader, CropOptions(box="auto", increase=0.0))
    assert segment.crop_box.x + segment.crop_box.side <= 300
