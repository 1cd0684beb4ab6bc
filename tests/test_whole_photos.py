"""Every face of a group photo (issue 27): `animate --faces`, `crop --faces` + its sidecar, `paste-back`, and the
blending itself — on a group photo made of the shared sample portraits, with the bundled demo model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scenes import GROUP, group_photo, still_clip
from typer.testing import CliRunner

from animcli.cli import app
from animcli.common.errors import AnimcliError
from animcli.crop import Box, CropBox, CropOptions, FacePaster, SquareAt, paste_back, photo_faces, seam_step
from animcli.crop.paste_back import SEAM_LEVELS
from animcli.crop.selection import FaceSelectionError, parse_faces
from animcli.media import open_video, read_image, write_image, write_video

runner = CliRunner()
DEMO = ["--model", "demo", "--quiet"]


@pytest.fixture(scope="module")
def group(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("group") / "group.png"
    write_image(path, group_photo(shared_dir))
    return path


@pytest.fixture(scope="module")
def talking(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real talking head: 6 moving frames, and its first frame held still for 3 (both lossless folders)."""
    root = tmp_path_factory.mktemp("talking")
    with open_video(shared_dir / "samples" / "lia-demo" / "vox" / "driving2.mp4") as video:
        frames = [frame for _, frame in zip(range(36), video, strict=False)][::6]
    write_video(root / "moving", frames, 25)
    return root / "moving", still_clip(frames[0], root / "still", 3)


@pytest.fixture(scope="module")
def faces(group: Path) -> list:
    return photo_faces(read_image(group), parse_faces("all"), CropOptions(size=64))


def frames_of(folder: Path) -> list[np.ndarray]:
    with open_video(folder) as video:
        return list(video)


def weight_map(group: Path, faces: list) -> np.ndarray:
    return FacePaster(read_image(group).shape, [f.box for f in faces], [f.head for f in faces]).weight_map()


# ----------------------------------------------------------------------------------------------- selection


@pytest.mark.parametrize(("text", "expected"), [("all", [0, 1, 2]), ("largest", [2]), ("0,2", [0, 2]), ("1", [1]),
                                                 ("@330,240", [1]), ("@ 560,200", [2])])
def test_face_selection_syntax(faces: list, text: str, expected: list[int]) -> None:
    heads = [face.head for face in faces]
    assert [number for number, _ in parse_faces(text).pick(heads)] == expected


@pytest.mark.parametrize(("text", "message"), [
    ("5", "--faces 5: the picture has 3 faces (numbers 0-2, from the left)"),
    ("@5,5", "--faces @5,5: no face of the picture covers pixel 5,5 (3 faces: 0 at 121,231, 1 at 335,246, "
             "2 at 573,200)"),
])
def test_a_selection_that_does_not_fit_says_what_there_is(faces: list, text: str, message: str) -> None:
    with pytest.raises(FaceSelectionError) as error:
        parse_faces(text).pick([face.head for face in faces])
    assert str(error.value) == message


@pytest.mark.parametrize("text", ["", "every", "1,,2", "@1", "-1", "1.5"])
def test_bad_selection_syntax_is_one_line(text: str) -> None:
    with pytest.raises(AnimcliError, match=r"^--faces takes all, largest, face numbers"):
        parse_faces(text)


def test_the_group_photo_has_its_three_faces_left_to_right(faces: list) -> None:
    assert [face.number for face in faces] == [0, 1, 2]
    for face, (_, side, (x, y)) in zip(faces, GROUP, strict=True):
        centre_x, centre_y = (face.head.left + face.head.right) / 2, (face.head.top + face.head.bottom) / 2
        assert x < centre_x < x + side and y < centre_y < y + side


# ----------------------------------------------------------------------------------------------- animate --faces


@pytest.mark.parametrize("blend", ["feather", "poisson"])
def test_every_face_animates_and_nothing_else_changes(group: Path, talking, faces: list, tmp_path: Path,
                                                      blend: str) -> None:
    moving, _ = talking
    out = tmp_path / "out"
    result = runner.invoke(app, ["animate", str(group), str(moving), "--faces", "all", "--blend", blend,
                                 "-o", f"{out}/", *DEMO])
    assert result.exit_code == 0, result.output
    source = read_image(group)
    written = frames_of(out)
    assert len(written) == 6 and written[0].shape == source.shape
    weight = weight_map(group, faces)
    away = weight == 0
    assert away.mean() > 0.5
    for frame in written:
        assert np.abs(frame.astype(int) - source)[away].max() == 0  # pixels away from the faces: untouched
        # The paste boundary (where the pasted region meets the untouched picture) shows no step.
        assert seam_step(source, frame, weight, levels=[0.0]) <= 1.0
    for face in faces:
        box = face.box
        crops = [frame[box.y:box.y + box.side, box.x:box.x + box.side].astype(int) for frame in written]
        assert max(np.abs(crop - crops[0]).mean() for crop in crops[1:]) > 1.0, f"face {face.number} is still"


def test_a_still_driving_video_leaves_every_face_still(group: Path, talking, tmp_path: Path) -> None:
    _, still = talking
    out = tmp_path / "still"
    result = runner.invoke(app, ["animate", str(group), str(still), "--faces", "all", "-o", f"{out}/", *DEMO])
    assert result.exit_code == 0, result.output
    written = frames_of(out)
    assert all(np.array_equal(frame, written[0]) for frame in written)


def test_faces_and_a_face_subset_agree(group: Path, talking, faces: list, tmp_path: Path) -> None:
    """`--faces 1` animates face 1 exactly as `--faces all` does where the others are far; the rest stays."""
    moving, _ = talking
    one, every = tmp_path / "one", tmp_path / "every"
    for out, selection in ((one, "1"), (every, "all")):
        result = runner.invoke(app, ["animate", str(group), str(moving), "--faces", selection, "-o", f"{out}/",
                                     "--max-frames", "2", *DEMO])
        assert result.exit_code == 0, result.output
    source = read_image(group)
    box = faces[1].box
    middle = (slice(box.y + box.side // 3, box.y + 2 * box.side // 3),
              slice(box.x + box.side // 3, box.x + 2 * box.side // 3))
    for single, full in zip(frames_of(one), frames_of(every), strict=True):
        np.testing.assert_array_equal(single[middle], full[middle])
        for other in (faces[0], faces[2]):
            b = other.box
            centre = (slice(b.y + b.side // 3, b.y + 2 * b.side // 3), slice(b.x + b.side // 3, b.x + 2 * b.side // 3))
            np.testing.assert_array_equal(single[centre], source[centre])


def test_summary_line_counts_the_faces(group: Path, talking, tmp_path: Path) -> None:
    moving, _ = talking
    result = runner.invoke(app, ["animate", str(group), str(moving), "--faces", "all", "-o", str(tmp_path / "o.mp4"),
                                 "--model", "demo"])
    assert result.exit_code == 0, result.output
    summary = [line for line in result.stderr.splitlines() if line.startswith("wrote ")]
    assert summary[-1].startswith(f"wrote 6 frames of 720x400 at 25 fps, 3 faces to {tmp_path / 'o.mp4'}")


@pytest.mark.parametrize(("args", "message"), [
    (["--faces", "5"], "has 3 faces (numbers 0-2, from the left)"),
    (["--faces", "all", "--driving-face", "all"], "--driving-face all: the driving face is one face"),
    (["--faces", "all", "--show-keypoints"], "--show-keypoints draws one face's keypoints"),
    (["--faces", "all", "--output-size", "128"], "--paste-back already writes the source's own size"),
    (["--faces", "all", "--loop-driving"], "--loop-driving repeats the driving video under a longer source video"),
    (["--faces", "every"], "--faces takes all, largest, face numbers"),
    (["--blend", "poisson"], "--blend chooses how --paste-back (or --faces) blends faces in"),
    (["--driving-face", "1"], "--driving-face chooses the face --crop cuts"),
])
def test_bad_face_options_are_one_line_and_write_nothing(group: Path, talking, tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    moving, _ = talking
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["animate", str(group), str(moving), "-o", str(out), "--model", "demo", *args])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("animcli: error: ")
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_photo_without_faces_is_one_line_and_writes_nothing(talking, tmp_path: Path) -> None:
    moving, _ = talking
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((200, 300, 3), 120, np.uint8))
    result = runner.invoke(app, ["animate", str(blank), str(moving), "--faces", "all", "-o", str(tmp_path / "o.mp4"),
                                 "--model", "demo"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "no face found" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wall.png"]


def test_the_driving_face_is_chosen_by_the_same_syntax(group: Path, talking, tmp_path: Path) -> None:
    """A group photo drives a face of itself: face 1's motion (none: a photo) applied in absolute mode."""
    out = tmp_path / "o.png"
    result = runner.invoke(app, ["animate", str(group), str(group), "--faces", "0", "--driving-face", "@330,240",
                                 "-o", str(out), *DEMO])
    assert result.exit_code == 0, result.output
    assert read_image(out).shape == read_image(group).shape


# ----------------------------------------------------------------------------------------------- blending


def reconstruction_of(picture: np.ndarray, box: CropBox, size: int = 64, drift: tuple = (7, -5, 4)) -> np.ndarray:
    """What a generator gives back for a crop in a still-driving run: the crop at the model's size, blurred by
    it, with a colour drift."""
    crop = cv2.resize(picture[box.y:box.y + box.side, box.x:box.x + box.side], (size, size),
                      interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(crop, (0, 0), 0.8).astype(int) + np.array(drift)
    return np.clip(blurred, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("blend", ["feather", "poisson"])
def test_no_seam_anywhere_across_the_fade_for_a_still_driving_reconstruction(group: Path, faces: list,
                                                                               blend: str) -> None:
    """The seam bar at every contour of the blend (outer edge, 1/4, 1/2, 3/4, inner edge): within 1 grey level of
    the photo's own local variation, for crops that come back blurred and colour-shifted as generators do."""
    picture = read_image(group)
    paster = FacePaster(picture.shape, [f.box for f in faces], [f.head for f in faces], blend=blend)
    pasted = paster.paste(picture, [reconstruction_of(picture, f.box) for f in faces])
    weight = paster.weight_map()
    assert np.array_equal(pasted[weight == 0], picture[weight == 0])
    for level in SEAM_LEVELS:
        assert seam_step(picture, pasted, weight, levels=[level]) <= 1.0, f"seam at weight {level}"
    # A hard paste of the same crops shows the step the measure is for.
    hard, boxes = picture.copy(), np.zeros(weight.shape, np.float32)
    for face in faces:
        box = face.box
        hard[box.y:box.y + box.side, box.x:box.x + box.side] = cv2.resize(
            reconstruction_of(picture, box), (box.side, box.side))
        boxes[box.y:box.y + box.side, box.x:box.x + box.side] = 1
    assert seam_step(picture, hard, boxes, levels=[0.0]) > 3


def test_one_face_pastes_as_before() -> None:
    """FacePaster with one square is the single-face paste-back (feathered square, colours matched)."""
    rng = np.random.default_rng(1)
    picture = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    crop = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    box = CropBox(120, 40, 180)
    mask = np.zeros((300, 400), np.float32)
    from animcli.crop.paste_back import feather_mask

    mask[40:220, 120:300] = feather_mask(180, 0.12)
    pasted = paste_back(picture, crop, box)
    assert np.array_equal(pasted[mask == 0], picture[mask == 0])
    assert np.array_equal(FacePaster(picture.shape, [box]).paste(picture, [crop]), pasted)
    assert np.allclose(FacePaster(picture.shape, [box]).weight_map(), mask)


def test_overlapping_faces_combine_their_masks_without_a_square() -> None:
    """Two crops that overlap: the larger is pasted over the smaller except on the smaller face's head, and the
    combined weight changes smoothly everywhere (no square edge inside the picture)."""
    shape = (300, 420, 3)
    small, large = CropBox(40, 60, 160), CropBox(150, 20, 240)
    small_head, large_head = Box(110, 90, 200, 200), Box(175, 70, 315, 230)  # the heads overlap a little
    paster = FacePaster(shape, [small, large], [small_head, large_head])
    assert paster.order == [0, 1]  # smallest first
    weight = paster.weight_map()
    assert max(np.abs(np.diff(weight, axis=0)).max(), np.abs(np.diff(weight, axis=1)).max()) < 0.15
    from_small, from_large = paster.weight_map(0), paster.weight_map(1)
    assert np.allclose(from_small + from_large, weight, atol=1e-5)
    small_head = (145, 155)  # (row, column): inside the large square too
    assert from_small[small_head] > 0.99 and from_large[small_head] < 0.01
    large_head = (150, 195)  # inside the small square too, and on the edge of the small head
    assert from_large[large_head] > 0.99 and from_small[large_head] < 0.01
    between = (70, 185)  # in both squares, on neither head: the larger face, pasted last, wins
    assert from_large[between] > 0.99 and from_small[between] < 0.01


def test_sub_pixel_squares_paste_where_they_were_cut(group: Path) -> None:
    """A crop cut at a sub-pixel square (crop --track) and pasted back unchanged gives back the picture (up to the
    two resamplings) and leaves every pixel outside the square alone."""
    from animcli.crop.track import crop_subpixel

    picture = read_image(group)
    square = SquareAt(101.4, 60.7, 230.0)
    crop = crop_subpixel(picture, square.x, square.y, square.side, 256)
    paster = FacePaster(picture.shape, [square])
    pasted = paster.paste(picture, [crop])
    weight = paster.weight_map()
    assert np.array_equal(pasted[weight == 0], picture[weight == 0])
    inner = weight > 0.99
    assert np.abs(pasted[inner].astype(int) - picture[inner]).mean() < 2.5


# ------------------------------------------------------------------------------------ crop --faces / paste-back


def test_crop_faces_writes_each_face_and_a_sidecar_that_paste_back_reads(group: Path, talking,
                                                                         tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    result = runner.invoke(app, ["crop", str(group), "--faces", "all", "-o", str(folder), "--size", "64"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["face-0.png", "face-1.png", "face-2.png", "faces.json"]
    sidecar = json.loads((folder / "faces.json").read_text())
    assert sidecar["width"], sidecar["height"] == (720, 400)
    assert [face["number"] for face in sidecar["faces"]] == [0, 1, 2]
    picture = read_image(group)
    for face in sidecar["faces"]:
        x, y, side, _ = face["box"]
        expected = cv2.resize(picture[y:y + side, x:x + side], (64, 64), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(read_image(folder / face["file"]), expected)
    # Animate two faces separately, paste them back: the same as `animate --faces 0,2` (same crops, same motion).
    moving, _ = talking
    for number in (0, 2):
        animated = runner.invoke(app, ["animate", str(folder / f"face-{number}.png"), str(moving), "-o",
                                       f"{tmp_path / f'a{number}'}/", *DEMO])
        assert animated.exit_code == 0, animated.output
    pasted = runner.invoke(app, ["paste-back", str(folder / "faces.json"), f"2={tmp_path / 'a2'}",
                                 str(tmp_path / "a0"), "-o", f"{tmp_path / 'pasted'}/"])
    assert pasted.exit_code == 0, pasted.output
    assert pasted.stderr.splitlines()[-1].startswith("wrote 6 frames of 720x400 at 25 fps (face 0, 2 pasted back)")
    together = runner.invoke(app, ["animate", str(group), str(moving), "--faces", "0,2", "-o",
                                   f"{tmp_path / 'together'}/", *DEMO])
    assert together.exit_code == 0, together.output
    for separate, joint in zip(frames_of(tmp_path / "pasted"), frames_of(tmp_path / "together"), strict=True):
        # The crops went through a PNG round trip at 64 px in between: equal up to that rounding.
        assert np.abs(separate.astype(int) - joint).max() <= 2


def test_paste_back_of_stills_writes_a_still(group: Path, tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    assert runner.invoke(app, ["crop", str(group), "--faces", "1", "-o", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["paste-back", str(folder), str(folder / "face-1.png"), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    pasted, picture = read_image(tmp_path / "p.png"), read_image(group)
    assert pasted.shape == picture.shape
    assert np.abs(pasted.astype(int) - picture).mean() < 0.5  # its own crop, pasted back


@pytest.mark.parametrize("case", ["photo-changed", "too-many", "not-a-sidecar", "video-input", "fps-mismatch"])
def test_paste_back_and_crop_faces_refuse_bad_input_in_one_line(group: Path, tmp_path: Path, case: str) -> None:
    folder = tmp_path / "faces"
    assert runner.invoke(app, ["crop", str(group), "--faces", "all", "-o", str(folder), "--size", "32"]).exit_code == 0
    out = tmp_path / "out.mp4"
    if case == "photo-changed":
        copy = tmp_path / "group.png"
        write_image(copy, read_image(group)[::-1].copy())
        sidecar = json.loads((folder / "faces.json").read_text())
        sidecar["original"] = str(copy)
        (folder / "faces.json").write_text(json.dumps(sidecar))
        args, message = ["paste-back", str(folder), str(folder / "face-0.png"), "-o", str(out)], "has changed since"
    elif case == "too-many":
        crop = str(folder / "face-0.png")
        args, message = ["paste-back", str(folder), crop, crop, crop, crop, "-o", str(out)], "4 animated crops for"
    elif case == "not-a-sidecar":
        (tmp_path / "x.json").write_text("{}")
        args, message = ["paste-back", str(tmp_path / "x.json"), "a.png", "-o", str(out)], "not a faces.json"
    elif case == "video-input":
        write_video(tmp_path / "v.mp4", [read_image(group)] * 3, 10)
        args, message = ["crop", str(tmp_path / "v.mp4"), "--faces", "all", "-o", str(out)], "cuts the faces of a photo"
    else:
        crop = read_image(folder / "face-0.png")
        write_video(tmp_path / "a.mp4", [crop] * 3, 10)
        write_video(tmp_path / "b.mp4", [crop] * 3, 12)
        args = ["paste-back", str(folder), str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(out)]
        message = "different frame rates"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
