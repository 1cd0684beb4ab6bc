"""Image/video I/O: round trips for every container, stdin/stdout, atomic writes, audio, bad inputs."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from animcli.cli.app import reported_warnings
from animcli.common.errors import OutputError
from animcli.media import (
    VideoError,
    open_video,
    open_writer,
    probe_video,
    read_image,
    resize_square,
    write_image,
    write_video,
)

FPS = 10.0


def moving_square_frames(count: int = 8, width: int = 64, height: int = 48) -> np.ndarray:
    """Smooth colour gradients with a bright square moving across them: easy to compress, easy to compare."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = np.empty((count, height, width, 3), np.uint8)
    for index in range(count):
        frames[index, ..., 0] = xs * 255 // max(width - 1, 1)
        frames[index, ..., 1] = ys * 255 // max(height - 1, 1)
        frames[index, ..., 2] = 96
        left = 4 + 4 * index
        frames[index, 10:26, left:left + 16] = 240
    return frames


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def make_video_with_tone(path: Path, video_seconds: float, audio_seconds: float) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={FPS:g}:duration={video_seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_seconds}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    return path


def audio_seconds(path: Path) -> float:
    """Duration of the decoded audio track."""
    log = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:a:0",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    hours, minutes, seconds = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_all(spec: str | Path) -> np.ndarray:
    with open_video(spec) as reader:
        return np.stack(list(reader))


@pytest.mark.parametrize(("suffix", "tolerance"), [(".mp4", 4), (".m4v", 4), (".mov", 4), (".mkv", 4),
                                                   (".webm", 6), (".gif", 10)])
def test_container_round_trip(tmp_path: Path, suffix: str, tolerance: float) -> None:
    frames = moving_square_frames()
    target = tmp_path / f"clip{suffix}"
    write_video(target, frames, FPS)
    decoded = read_all(target)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < tolerance
    info = probe_video(target)
    assert info["fps"] == pytest.approx(FPS)
    assert info["size"] == (64, 48)
    assert info["frame_count"] == len(frames)
    assert not info["has_audio"]


def test_odd_sizes_are_padded_for_yuv420p(tmp_path: Path) -> None:
    frames = moving_square_frames(count=3, width=33, height=25)
    write_video(tmp_path / "odd.mp4", frames, FPS)
    decoded = read_all(tmp_path / "odd.mp4")
    assert decoded.shape == (3, 26, 34, 3)
    assert np.abs(decoded[:, :25, :33].astype(int) - frames).mean() < 4


def test_frame_directory_is_lossless_and_naturally_sorted(tmp_path: Path) -> None:
    frames = moving_square_frames(count=11)
    write_video(tmp_path / "frames", frames, FPS)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == ["000000.png", "000001.png"]
    np.testing.assert_array_equal(read_all(tmp_path / "frames"), frames)

    unpadded = tmp_path / "unpadded"
    unpadded.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(unpadded / f"frame{index}.png"), frame[..., ::-1])
    with open_video(unpadded, fps=12.5) as reader:
        assert reader.fps == 12.5 and reader.frame_count == 11 and reader.size == (64, 48)
        assert reader.path is None and not reader.has_audio
        np.testing.assert_array_equal(np.stack(list(reader)), frames)  # frame10 after frame9


def test_non_empty_frame_folder_is_refused_then_replaced_as_a_whole_with_overwrite(tmp_path: Path) -> None:
    write_video(tmp_path / "out", moving_square_frames(count=5), FPS)
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    with pytest.raises(OutputError, match="not empty.*--overwrite"):
        write_video(tmp_path / "out", moving_square_frames(count=3), FPS)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    write_video(tmp_path / "out", moving_square_frames(count=3), FPS, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_reader_is_streaming_and_reiterable(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", moving_square_frames(), FPS)
    with open_video(tmp_path / "clip.mp4") as reader:
        assert not isinstance(reader.__iter__(), (list, tuple))
        first_pass = np.stack(list(reader))
        np.testing.assert_array_equal(np.stack(list(reader)), first_pass)


STDIO_SCRIPT = """
import sys
from animcli.media import open_video, open_writer
with open_video("-") as reader:
    sys.stderr.write(f"{reader.frame_count} {reader.has_audio} {reader.path.exists()}\\n")
    with open_writer("-", reader.fps, audio_from=reader.path) as writer:
        writer.write_many(frame[:, ::-1] for frame in reader)
"""


@pytest.mark.slow
def test_stdin_to_stdout_through_a_real_pipe(tmp_path: Path) -> None:
    source = make_video_with_tone(tmp_path / "in.mp4", video_seconds=1, audio_seconds=3)
    result = subprocess.run([sys.executable, "-c", STDIO_SCRIPT], input=source.read_bytes(),
                            capture_output=True, check=True)
    assert result.stderr.decode().split() == ["10", "True", "True"]
    streamed = tmp_path / "streamed.mp4"
    streamed.write_bytes(result.stdout)
    info = probe_video(streamed)
    assert info["frame_count"] == 10 and info["has_audio"]
    assert audio_seconds(streamed) <= 1.3  # a live stream is cut by -shortest, a few audio packets late
    mirrored = read_all(streamed)
    assert np.abs(mirrored[:, :, ::-1].astype(int) - read_all(source)).mean() < 4
    assert not list(Path(tempfile.gettempdir()).glob("animcli-stdin-*"))  # the spooled stdin is gone


def test_audio_is_kept_and_trimmed_to_the_video(tmp_path: Path) -> None:
    longer_audio = make_video_with_tone(tmp_path / "long.mp4", video_seconds=1, audio_seconds=3)
    frames = moving_square_frames(count=10)
    for suffix in (".mp4", ".webm", ".mkv", ".mov"):
        target = tmp_path / f"out{suffix}"
        write_video(target, frames, FPS, audio_from=longer_audio)
        assert probe_video(target)["has_audio"], suffix
        assert 0.8 <= audio_seconds(target) <= 1.15, suffix
    write_video(tmp_path / "out.gif", frames, FPS, audio_from=longer_audio)
    assert not probe_video(tmp_path / "out.gif")["has_audio"]


def test_shorter_audio_does_not_shorten_the_video(tmp_path: Path) -> None:
    short_audio = make_video_with_tone(tmp_path / "short.mp4", video_seconds=1, audio_seconds=0.5)
    write_video(tmp_path / "out.mp4", moving_square_frames(count=20), FPS, audio_from=short_audio)
    info = probe_video(tmp_path / "out.mp4")
    assert info["frame_count"] == 20 and info["has_audio"]


def test_unusable_audio_source_warns_and_keeps_the_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with reported_warnings():
        write_video(tmp_path / "out.mp4", moving_square_frames(), FPS, audio_from=tmp_path / "missing.mp4")
    assert probe_video(tmp_path / "out.mp4")["frame_count"] == 8
    assert "warning" in capsys.readouterr().err


@pytest.mark.parametrize("target_name", ["out.mp4", "out.gif", "frames"])
def test_failed_write_leaves_existing_output_untouched(tmp_path: Path, target_name: str) -> None:
    target = tmp_path / target_name
    write_video(target, moving_square_frames(count=4), FPS)
    before = {p.name: p.read_bytes() for p in ([target] if target.is_file() else target.iterdir())}
    with pytest.raises(RuntimeError, match="boom"):
        with open_writer(target, FPS, overwrite=True) as writer:
            writer.write_many(moving_square_frames(count=6)[:, ::-1])
            raise RuntimeError("boom")
    after = {p.name: p.read_bytes() for p in ([target] if target.is_file() else target.iterdir())}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == [target_name]


def test_writer_rejects_bad_frames_and_empty_output(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="frame size"):
        with open_writer(tmp_path / "out.mp4", FPS) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            writer.write(np.zeros((16, 18, 3), np.uint8))
    with pytest.raises(VideoError, match="uint8"):
        with open_writer(tmp_path / "out.mp4", FPS) as writer:
            writer.write(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(VideoError, match="no frames"):
        with open_writer(tmp_path / "out.mp4", FPS):
            pass
    with pytest.raises(VideoError, match="unsupported output"):
        open_writer(tmp_path / "out.txt", FPS)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_raise_video_error(tmp_path: Path) -> None:
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", str(tmp_path / "audio_only.mp4"))
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    cases = {
        "missing.mp4": "no such file",
        "corrupt.mp4": "not a readable video",
        "audio_only.mp4": "not a readable video",
        "notes.txt": "unsupported video type",
        "empty": "no frames",
        "still.png": "is an image",
    }
    for name, message in cases.items():
        with pytest.raises(VideoError, match=message) as raised:
            open_video(tmp_path / name)
        assert "\n" not in str(raised.value)
    for name, message in {"missing.png": "no such file", "corrupt.png": "not a readable image",
                          "notes.txt": "unsupported image type"}.items():
        with pytest.raises(VideoError, match=message):
            read_image(tmp_path / name)


def test_read_image_converts_to_rgb8(tmp_path: Path) -> None:
    rgb = moving_square_frames(count=1)[0]
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)

    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, 32:] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([rgb[..., ::-1], alpha]))
    composited = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(composited[:, 32:], rgb[:, 32:])
    assert composited[:, :32].max() == 0  # transparent → black

    gray = rgb[..., 1]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, axis=2))

    deep = rgb.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), rgb)

    cv2.imwrite(str(tmp_path / "photo.jpg"), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert np.abs(read_image(tmp_path / "photo.jpg").astype(int) - rgb).mean() < 3


def test_write_image_is_atomic_and_round_trips(tmp_path: Path) -> None:
    rgb = moving_square_frames(count=1)[0]
    write_image(tmp_path / "out.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), rgb)
    with pytest.raises(VideoError):
        write_image(tmp_path / "out.png", rgb.astype(np.float32))
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_resize_square() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    checker = np.repeat(checker[..., None], 3, axis=2)
    shrunk = resize_square(checker, 16)
    assert shrunk.shape == (16, 16, 3) and shrunk.dtype == np.uint8
    assert np.abs(shrunk.astype(int) - 128).max() <= 1  # area averaging: no aliasing
    grown = resize_square(moving_square_frames(count=1)[0], 100)
    assert grown.shape == (100, 100, 3)
    same = moving_square_frames(count=1, width=20, height=20)[0]
    assert resize_square(same, 20) is same


def dominant_frequencies(path: Path, times: list[float]) -> list[int]:
    """The loudest frequency (Hz, 10 Hz bins) of the decoded audio 0.1 s after each of ``times``."""
    rate = 8000
    samples = np.frombuffer(subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-ar", str(rate), "-f", "s16le", "-"], capture_output=True, check=True).stdout, np.int16)
    windows = [samples[int(time * rate):int((time + 0.1) * rate)].astype(np.float64) for time in times]
    return [int(np.abs(np.fft.rfft(window)).argmax() * rate / len(window)) for window in windows]


def test_a_looped_sound_repeats_its_period_until_the_video_ends(tmp_path: Path) -> None:
    """--loop-driving's sound: 0.5 s of 440 Hz then 0.5 s of 880 Hz, read from 0.5 s on for 1 s, under 3 s."""
    two_tones = tmp_path / "two-tones.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={FPS:g}:duration=1.5",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-f", "lavfi", "-i", "sine=frequency=880:duration=0.5",
           "-filter_complex", "[1][2]concat=n=2:v=0:a=1[a]", "-map", "0:v", "-map", "[a]",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(two_tones))
    with open_writer(tmp_path / "looped.mp4", FPS, audio_from=two_tones, audio_start=0.5, audio_loop=1.0) as writer:
        writer.write_many(moving_square_frames(count=30))
    assert 2.9 <= audio_seconds(tmp_path / "looped.mp4") <= 3.15
    assert dominant_frequencies(tmp_path / "looped.mp4", [0.15, 0.65, 1.15, 1.65, 2.15, 2.65]) == [440, 880] * 3
