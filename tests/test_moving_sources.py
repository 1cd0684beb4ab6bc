"""A video as the source (video to video) and a photo as the driver (issue 27): through `animcli animate`, the
Animator, batch manifests, and for every registered family through the one model interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scenes import clip_of, still_clip
from test_model_contract import FAMILY_NAMES, fixture_files
from typer.testing import CliRunner

from animcli.cli import app
from animcli.data.synth import synth_clip, synth_source_and_driving
from animcli.inference.animator import PREFETCH_BATCHES, Animator
from animcli.inference.smoothing import Smoothing
from animcli.jobs.manifest import parse_line
from animcli.media import open_video, probe_video, read_image, resize_square, write_image, write_video
from animcli.models.base import TransferOptions
from animcli.weights.loading import load_model

runner = CliRunner()
SIZE = 64  # the demo model's
VOX = Path("samples") / "lia-demo" / "vox"


def animate(*args: str, model: str = "demo") -> list[str]:
    """Run animate; its stderr lines, the summary ("wrote …") last."""
    result = runner.invoke(app, ["animate", *args, "--model", model])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    return [line for line in lines if not line.startswith("wrote ")] + [line for line in lines
                                                                        if line.startswith("wrote ")]


def frames_of(path: Path) -> list[np.ndarray]:
    with open_video(path) as video:
        return list(video)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clips the demo model knows (its own kind of data), as lossless frame folders at 25 fps: ``source``, a moving
    12-frame shape; ``driving``, another shape moving for 8 frames; ``still``, the driving's first frame held for
    12 frames; ``still_source``, the source's first frame held for 8; and that frame as ``source.png``."""
    root = tmp_path_factory.mktemp("shapes")
    source_clip = synth_clip(11, SIZE, 12)
    _, driving = synth_source_and_driving(5, size=SIZE, num_frames=8)
    write_video(root / "source", source_clip, 25)
    write_video(root / "driving", driving, 25)
    still_clip(driving[0], root / "still", 12)
    still_clip(source_clip[0], root / "still_source", 8)
    write_image(root / "source.png", source_clip[0])
    write_image(root / "driving.png", driving[-1])
    write_image(root / "reference.png", driving[0])
    return {name: root / name for name in ("source", "driving", "still", "still_source")} | {
        "source.png": root / "source.png", "driving.png": root / "driving.png", "reference.png": root / "reference.png"}


# ----------------------------------------------------------------------------------------------- video to video


def test_a_still_driving_video_gives_back_the_source_video(shapes, tmp_path: Path) -> None:
    """Relative mode with no driving change: every frame is the source frame in its own pose — the model's
    reconstruction of it (exactly what animating that frame as a still gives), as close to the frame as the demo
    model's reconstruction error, and moving as the source moves."""
    out = tmp_path / "out"
    animate(str(shapes["source"]), str(shapes["still"]), "--mode", "relative", "-o", f"{out}/")
    written, source = frames_of(out), frames_of(shapes["source"])
    assert len(written) == 12
    errors = [np.abs(frame.astype(int) - original).mean() for frame, original in zip(written, source, strict=True)]
    copy_first = [np.abs(original.astype(int) - source[0]).mean() for original in source[1:]]
    assert max(errors) < 6.0  # grey levels; the demo model's test L1 is 0.0167 (4.3 levels) on such clips
    assert np.mean(errors[1:]) < 0.5 * np.mean(copy_first)  # it follows the source's own motion
    # Frame by frame it is the still-image animation of that frame (the reconstruction error is the model's own).
    for index in (0, 5, 11):
        write_image(tmp_path / "frame.png", source[index])
        single = tmp_path / f"single{index}"
        animate(str(tmp_path / "frame.png"), str(shapes["still"]), "--mode", "relative", "--max-frames", "1",
                "-o", f"{single}/")
        np.testing.assert_array_equal(written[index], frames_of(single)[0])


@pytest.mark.parametrize("extra", [[], ["--mode", "absolute"], ["--backend", "torch"]])
def test_a_still_source_video_gives_exactly_the_image_animation(shapes, tmp_path: Path, extra: list[str]) -> None:
    from_video, from_image = tmp_path / "video", tmp_path / "image"
    animate(str(shapes["still_source"]), str(shapes["driving"]), "-o", f"{from_video}/", *extra)
    animate(str(shapes["source.png"]), str(shapes["driving"]), "-o", f"{from_image}/", *extra)
    video, image = frames_of(from_video), frames_of(from_image)
    assert len(video) == len(image) == 8
    for a, b in zip(video, image, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(video[-1].astype(int) - video[0]).mean() > 2  # and it moved


def test_smoothing_applies_to_both_motions(shapes, tmp_path: Path) -> None:
    """`--smooth` on a video source smooths the transferred motion (the source's own and the driving change):
    with a still source it is the image animation with `--smooth` (up to float rounding)."""
    from_video, from_image = tmp_path / "video", tmp_path / "image"
    animate(str(shapes["still_source"]), str(shapes["driving"]), "--smooth", "-o", f"{from_video}/")
    animate(str(shapes["source.png"]), str(shapes["driving"]), "--smooth", "-o", f"{from_image}/")
    for a, b in zip(frames_of(from_video), frames_of(from_image), strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1
    # And on a moving source it steadies the source's own motion: less frame-to-frame jitter than without.
    rough, smooth = tmp_path / "rough", tmp_path / "smooth"
    animate(str(shapes["source"]), str(shapes["still"]), "-o", f"{rough}/")
    animate(str(shapes["source"]), str(shapes["still"]), "--smooth-strength", "2", "-o", f"{smooth}/")

    def jitter(frames: list[np.ndarray]) -> float:
        stack = np.stack(frames).astype(float)
        return float(np.abs(stack[2:] - 2 * stack[1:-1] + stack[:-2]).mean())

    assert jitter(frames_of(smooth)) < jitter(frames_of(rough))


def test_length_frame_rate_and_loop(shapes, tmp_path: Path) -> None:
    lines = animate(str(shapes["source"]), str(shapes["driving"]), "-o", f"{tmp_path / 'short'}/")
    assert lines[-1].startswith("wrote 8 frames of 64x64 at 25 fps")  # the shorter: the driving video
    lines = animate(str(shapes["source"]), str(shapes["driving"]), "--loop-driving", "-o", f"{tmp_path / 'loop'}/")
    assert lines[-1].startswith("wrote 12 frames of 64x64 at 25 fps")
    looped = frames_of(tmp_path / "loop")
    # Frame 8 is driven by driving frame 0 again: like frame 0, but on source frame 8.
    first = tmp_path / "first"
    write_image(tmp_path / "s8.png", frames_of(shapes["source"])[8])
    animate(str(tmp_path / "s8.png"), str(shapes["driving"]), "--max-frames", "1", "--mode", "relative",
            "-o", f"{first}/")
    np.testing.assert_array_equal(looped[8], frames_of(first)[0])


@pytest.fixture(scope="module")
def talking(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real talking-head clips at 25 fps: ``source`` (12 frames, with sound), ``driving`` (8 later frames of the
    same video, with sound), ``silent_driving`` (the same frames without), ``driving24`` (another video at 24 fps)."""
    root = tmp_path_factory.mktemp("talking")
    video = shared_dir / VOX / "driving2.mp4"
    return {"source": clip_of(video, root / "source.mp4", 12, audio=True),
            "driving": clip_of(video, root / "driving.mp4", 8, start=120, audio=True),
            "silent_driving": clip_of(video, root / "silent.mp4", 8, start=120),
            "silent_source": clip_of(video, root / "silent-source.mp4", 12),
            "driving24": clip_of(shared_dir / VOX / "driving3.mov", root / "d24.mp4", 8)}


@pytest.mark.parametrize(("source", "driving", "extra", "sound"), [
    ("source", "silent_driving", [], True),  # the source's sound by default
    ("silent_source", "driving", [], False),  # … never the driving's unless asked
    ("silent_source", "driving", ["--audio", "driving"], True),
    ("source", "driving", ["--no-audio"], False),
])
def test_the_source_videos_sound_by_default(talking, tmp_path: Path, source: str, driving: str, extra: list[str],
                                           sound: bool) -> None:
    out = tmp_path / "out.mp4"
    animate(str(talking[source]), str(talking[driving]), "-o", str(out), *extra)
    info = probe_video(out)
    assert info["has_audio"] is sound and info["frame_count"] == 8 and info["fps"] == 25


def test_crop_track_and_paste_back_into_each_source_frame(shared_dir: Path, tmp_path: Path) -> None:
    """A face drifting across a wider picture: each frame's crop follows it, the animated crop goes back into its
    own frame, and every pixel outside that frame's square is the source's."""
    from animcli.crop import CropOptions, FacePaster, SquareAt, find_segments

    face = resize_square(read_image(shared_dir / VOX / "taylor.png"), 150)
    frames = []
    for index in range(10):
        frame = np.full((240, 400, 3), 80, np.uint8)
        frame[40:190, 30 + 20 * index:180 + 20 * index] = face
        frames.append(frame)
    write_video(tmp_path / "source", frames, 25)
    with open_video(shared_dir / VOX / "driving2.mp4") as video:
        driving = [frame for _, frame in zip(range(10), video, strict=False)]
    write_video(tmp_path / "driving", driving, 25)
    out = tmp_path / "out"
    animate(str(tmp_path / "source"), str(tmp_path / "driving"), "--crop", "--track", "--paste-back",
            "-o", f"{out}/")
    written = frames_of(out)
    assert len(written) == 10 and written[0].shape == frames[0].shape
    with open_video(tmp_path / "source") as video:
        [segment] = find_segments(video, CropOptions(size=SIZE, track=True, min_frames=1))
    lefts = []
    for index, (result, original) in enumerate(zip(written, frames, strict=True)):
        x, y = segment.corners[index]
        weight = FacePaster(original.shape, [SquareAt(x, y, segment.side)]).weight_map()
        assert np.array_equal(result[weight == 0], original[weight == 0])
        assert np.abs(result.astype(int) - original)[weight > 0.99].mean() > 1  # the face was animated
        lefts.append(x)
    assert lefts[-1] - lefts[0] > 120  # the square followed the face


def test_streams_with_memory_flat_in_length(shapes) -> None:
    """The source video is read a few frames ahead of the model, not whole: after the first batch, only a
    bounded number of source and driving frames have been pulled."""
    model = load_model(model="demo", device="cpu")
    animator = Animator(model, TransferOptions("relative"), batch_size=2)
    clip = frames_of(shapes["source"]) * 5
    pulled = {"source": 0, "driving": 0}

    def counted(frames, name):
        for frame in frames:
            pulled[name] += 1
            yield frame

    batches = animator.animate_video(((frame, index) for index, frame in enumerate(counted(clip, "source"))),
                                     counted(frames_of(shapes["still"]) * 5, "driving"))
    first = next(batches)
    bound = (PREFETCH_BATCHES + 2) * 2 + 1
    assert pulled["source"] <= bound + 1 and pulled["driving"] <= bound < len(clip)
    assert first.context == [0, 1] and first.source.shape == (2, SIZE, SIZE, 3)
    assert sum(len(batch.prediction) for batch in batches) + 2 == len(clip)


@pytest.mark.parametrize("case", ["empty-source", "fps", "faces", "audio-source-photo",
                                  "loop-photo-source", "relative-photo", "image-output"])
def test_bad_input_is_one_line_and_writes_nothing(shapes, talking, tmp_path: Path, case: str) -> None:
    out = tmp_path / "out.mp4"
    source, driving, extra = str(shapes["source"]), str(shapes["driving"]), []
    if case == "empty-source":
        (tmp_path / "empty").mkdir()
        source, message = str(tmp_path / "empty"), "no frames"
    elif case == "fps":
        source, driving = str(talking["source"]), str(talking["driving24"])
        message = "the source video is 25 fps and the driving video 24 fps: frames are paired one to one"
    elif case == "faces":
        extra, message = ["--faces", "all"], "--faces animates the faces of a photo; for a source video use --crop"
    elif case == "audio-source-photo":
        source, extra = str(shapes["source.png"]), ["--audio", "source"]
        message = "--audio source takes the source video's sound; the source is a photo"
    elif case == "loop-photo-source":
        source, extra = str(shapes["source.png"]), ["--loop-driving"]
        message = "--loop-driving repeats the driving video under a longer source video"
    elif case == "relative-photo":
        driving, extra = str(shapes["driving.png"]), ["--mode", "relative"]
        message = "relative transfer from one driving photo needs --reference IMAGE"
    else:
        source, out = str(shapes["source.png"]), tmp_path / "out.png"
        message = "out.png: a driving video gives a video"
    result = runner.invoke(app, ["animate", source, driving, "-o", str(out), "--model", "demo", *extra])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("animcli: error: ")
    assert message in result.output, result.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_a_corrupt_source_video_is_one_line(shapes, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    result = runner.invoke(app, ["animate", str(broken), str(shapes["driving"]), "-o", str(tmp_path / "o.mp4"),
                                 "--model", "demo"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and str(broken) in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


# ----------------------------------------------------------------------------------------------- photo as driver


def test_a_driving_photo_gives_a_photo_in_absolute_mode(shapes, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    lines = animate(str(shapes["source.png"]), str(shapes["driving.png"]), "-o", str(out))
    assert lines[-1].startswith(f"wrote a 64x64 image to {out}")  # (then perhaps a precision hint)
    # The absolute transfer of that pose: the first frame of animating with a one-frame driving video of it.
    write_video(tmp_path / "one", [read_image(shapes["driving.png"])], 25)
    animate(str(shapes["source.png"]), str(tmp_path / "one"), "--mode", "absolute", "-o", f"{tmp_path / 'v'}/")
    np.testing.assert_array_equal(read_image(out), frames_of(tmp_path / "v")[0])


def test_relative_against_a_reference_photo(shapes, tmp_path: Path) -> None:
    """`--reference` is the pose the driving photo's change is measured from: the same as the last frame of the
    driving video animated relative to its first frame (the reference)."""
    out = tmp_path / "out.png"
    lines = animate(str(shapes["source.png"]), str(shapes["driving.png"]), "--reference", str(shapes["reference.png"]),
                    "-o", str(out))
    assert lines[-1].startswith(f"wrote a 64x64 image (relative to --reference) to {out}")
    animate(str(shapes["source.png"]), str(shapes["driving"]), "--mode", "relative", "-o", f"{tmp_path / 'v'}/")
    np.testing.assert_array_equal(read_image(out), frames_of(tmp_path / "v")[-1])
    # A reference equal to the driving photo: no change, the source in its own pose.
    same = tmp_path / "same.png"
    animate(str(shapes["source.png"]), str(shapes["driving.png"]), "--reference", str(shapes["driving.png"]),
            "-o", str(same))
    animate(str(shapes["source.png"]), str(shapes["still"]), "--mode", "relative", "--max-frames", "1",
            "-o", f"{tmp_path / 'own'}/")
    np.testing.assert_array_equal(read_image(same), frames_of(tmp_path / "own")[0])


def test_a_driving_photo_with_crop_paste_back_and_faces(shared_dir: Path, tmp_path: Path) -> None:
    from scenes import group_photo

    group, portrait = tmp_path / "group.png", shared_dir / VOX / "taylor.png"
    write_image(group, group_photo(shared_dir))
    for extra in (["--crop", "--paste-back"], ["--faces", "all"], ["--faces", "all", "--blend", "poisson"]):
        out = tmp_path / "out.png"
        animate(str(group), str(portrait), *extra, "-o", str(out))
        assert read_image(out).shape == read_image(group).shape
    # A video source driven by a photo: every frame takes the photo's pose.
    source = tmp_path / "source.mp4"
    clip_of(shared_dir / VOX / "driving2.mp4", source, 4)
    lines = animate(str(source), str(portrait), "--crop", "--paste-back", "-o", str(tmp_path / "o.mp4"))
    assert lines[-1].startswith("wrote 4 frames of 256x256 at 25 fps")


# ----------------------------------------------------------------------------------------------- batch manifests


def test_batch_manifests_take_the_new_fields(shapes, tmp_path: Path) -> None:
    line = {"source": "group.png", "driving": "clip.mp4", "output": "out.mp4", "faces": "0,2",
            "driving_face": "@120,80", "blend": "poisson", "loop_driving": True, "reference": "neutral.png",
            "audio": "driving"}
    request = parse_line(json.dumps(line), tmp_path)
    assert (request.faces, request.driving_face, request.blend, request.loop_driving, request.audio) == (
        "0,2", "@120,80", "poisson", True, "driving")
    assert request.reference == tmp_path / "neutral.png"
    for bad, message in (({"faces": "every"}, "faces: --faces takes all, largest"),
                         ({"driving_face": "all"}, "the driving face is one face"),
                         ({"blend": "hard"}, "expected one of 'feather', 'poisson'"),
                         ({"audio": "both"}, "expected one of 'source', 'driving'")):
        with pytest.raises(ValueError, match=message):
            parse_line(json.dumps(line | bad), tmp_path)
    # And a video-to-video job runs like the command.
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"source": str(shapes["still_source"]), "driving": str(shapes["driving"]),
                                    "output": f"{tmp_path / 'batch'}/", "model": "demo"}) + "\n")
    result = runner.invoke(app, ["batch", str(manifest), "--quiet"])
    assert result.exit_code == 0, result.output
    animate(str(shapes["source.png"]), str(shapes["driving"]), "-o", f"{tmp_path / 'single'}/")
    for a, b in zip(frames_of(tmp_path / "batch"), frames_of(tmp_path / "single"), strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------- every family


@pytest.fixture(scope="module")
def family_models(reference_dir: Path) -> dict:
    models = {}
    for family in FAMILY_NAMES:
        config, checkpoint = fixture_files(reference_dir, family)
        models[family] = load_model(checkpoint, config, device="cpu")
    return models


def run_video(animator: Animator, sources: list[np.ndarray], driving: list[np.ndarray]) -> np.ndarray:
    batches = animator.animate_video(((frame, None) for frame in sources), driving)
    return np.concatenate([batch.prediction for batch in batches])


def run_image(animator: Animator, source: np.ndarray, driving: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([batch.prediction for batch in animator.animate(source, driving)])


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_every_family_animates_a_source_video_through_the_interface(family: str, mode: str,
                                                                    family_models: dict) -> None:
    """For each family: a still source video gives exactly the image animation; a still driving video gives, frame
    by frame, each source frame's own animation (its reconstruction in relative mode); a driving photo is one
    frame of a driving video."""
    model = family_models[family]
    animator = Animator(model, TransferOptions(mode=mode), batch_size=1)
    source_clip = list(synth_clip(21, model.size, 3))
    _, driving = synth_source_and_driving(7, size=model.size, num_frames=3)
    driving = list(driving)
    np.testing.assert_array_equal(run_video(animator, [source_clip[0]] * 3, driving),
                                  run_image(animator, source_clip[0], driving))
    still = [driving[0]] * 3
    per_frame = np.concatenate([run_image(animator, frame, still[:1]) for frame in source_clip])
    np.testing.assert_array_equal(run_video(animator, source_clip, still), per_frame)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_smooths_a_source_video(family: str, family_models: dict) -> None:
    model = family_models[family]
    smoothing = Smoothing(strength=2)
    video = Animator(model, TransferOptions(mode="relative"), batch_size=1, smoothing=smoothing)
    source = synth_clip(21, model.size, 1)[0]
    _, driving = synth_source_and_driving(7, size=model.size, num_frames=6)
    smoothed_video = run_video(video, [source] * 6, list(driving))
    smoothed_image = run_image(video, source, list(driving))
    assert np.abs(smoothed_video - smoothed_image).max() < 2e-3
