"""Training data: dataset layouts, official augmentations (without the official bugs), resumable sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animcli.data import Augmentation, DatasetError, EpochSampler, PairSampling, TrainingPairs, read_video, split_videos
from animcli.data.augment import fit_frames
from animcli.media import write_image, write_video


def indexed_clip(num_frames: int, size: int = 8) -> np.ndarray:
    """Frame t is a flat grey of value 20·t, so a frame tells its index."""
    return np.stack([np.full((size, size, 3), 20 * t, np.uint8) for t in range(num_frames)])


def write_strip(path: Path, clip: np.ndarray) -> Path:
    write_image(path, np.concatenate(list(clip), axis=1))
    return path


def frame_index(frame: np.ndarray) -> int:
    return int(round(float(frame.mean()) * 255 / 20))


def test_every_video_layout_reads_to_the_same_frames(tmp_path: Path) -> None:
    clip = indexed_clip(4, size=16)
    strip = write_strip(tmp_path / "strip.png", clip)
    folder = tmp_path / "folder"
    folder.mkdir()
    for t, frame in enumerate(clip):
        write_image(folder / f"{t:03d}.png", frame)
    movie = tmp_path / "movie.mp4"
    write_video(movie, list(clip), fps=10)
    np.testing.assert_array_equal(read_video(strip), clip)
    np.testing.assert_array_equal(read_video(folder), clip)
    decoded = read_video(movie)
    assert decoded.shape == clip.shape and np.abs(decoded.astype(int) - clip).max() <= 3  # lossy codec


def test_root_without_train_folder_is_split_by_a_fixed_seed(tmp_path: Path) -> None:
    for i in range(10):
        write_strip(tmp_path / f"{i}.png", indexed_clip(2))
    train, test = split_videos(tmp_path, "train"), split_videos(tmp_path, "test")
    assert len(train) == 8 and len(test) == 2 and not set(train) & set(test)
    assert split_videos(tmp_path, "test") == test


def test_missing_split_folder_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="no test/ folder"):
        split_videos(tmp_path, "test")


def test_crop_offsets_cover_both_axes_and_small_frames_are_edge_padded() -> None:
    augmentation = Augmentation.from_params({"crop_param": {"size": [8, 8]}})
    clip = np.random.default_rng(0).random((1, 10, 12, 3), dtype=np.float32)
    rng = np.random.default_rng(1)
    offsets = set()
    for _ in range(200):
        crop = augmentation(clip, rng)
        top, left = np.argwhere(clip[0, :3, :5, 0] == crop[0, 0, 0, 0])[0]
        offsets.add((int(top), int(left)))
    # The official crop pins one offset to 0 whenever the other axis needs no padding; ours does not.
    assert {top for top, _ in offsets} == {0, 1, 2} and {left for _, left in offsets} == {0, 1, 2, 3, 4}
    padded = augmentation(np.ones((2, 4, 6, 3), np.float32), rng)
    assert padded.shape == (2, 8, 8, 3) and np.all(padded == 1)


def test_time_and_mirror_flips_are_independent() -> None:
    augmentation = Augmentation.from_params({"flip_param": {"time_flip": True, "horizontal_flip": True}})
    clip = np.zeros((2, 4, 4, 3), np.float32)
    clip[0, :, 0] = 1  # frame 0 has a bright left column
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(100):
        out = augmentation(clip, rng)
        reversed_time = out[1].any()
        mirrored = bool(out[int(reversed_time), :, -1].any())
        seen.add((bool(reversed_time), mirrored))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_colour_jitter_keeps_range_and_treats_all_frames_alike() -> None:
    augmentation = Augmentation.from_params(
        {"jitter_param": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.4}})
    frame = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    out = augmentation(np.stack([frame, frame]), np.random.default_rng(3))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out[0], out[1])
    assert np.abs(out[0] - frame).mean() > 0.01


def test_rotation_by_zero_is_identity_and_quarter_turn_matches_rot90() -> None:
    image = np.random.default_rng(0).random((1, 9, 9, 3), dtype=np.float32)
    assert np.allclose(Augmentation._rotate(image, 0.0), image)
    np.testing.assert_allclose(Augmentation._rotate(image, 90.0)[0], np.rot90(image[0]), atol=1e-5)


def test_resize_then_fit_returns_the_frame_shape() -> None:
    augmentation = Augmentation.from_params({"resize_param": {"ratio": [0.5, 0.6]}})
    resized = augmentation(np.zeros((2, 20, 20, 3), np.float32), np.random.default_rng(0))
    assert resized.shape[1] < 20
    assert fit_frames(resized, (16, 16)).shape == (2, 16, 16, 3)


@pytest.fixture()
def indexed_dataset(tmp_path: Path) -> Path:
    for split, count in (("train", 3), ("test", 1)):
        (tmp_path / split).mkdir()
        for i in range(count):
            write_strip(tmp_path / split / f"person{i % 2}#clip{i}.png", indexed_clip(6))
    return tmp_path


def test_training_pairs_are_sorted_reproducible_and_repeated(indexed_dataset: Path) -> None:
    dataset = TrainingPairs(indexed_dataset, (8, 8), Augmentation(), PairSampling(distinct=False), num_repeats=4)
    assert len(dataset) == 12
    for seed in range(20):
        item = dataset[(seed % len(dataset), seed)]
        assert item["source"].shape == (3, 8, 8)
        assert frame_index(item["source"].numpy()) <= frame_index(item["driving"].numpy())
    again = dataset[(5, 123)]
    np.testing.assert_array_equal(dataset[(5, 123)]["driving"], again["driving"])


def test_distinct_pairs_and_id_sampling(indexed_dataset: Path) -> None:
    dataset = TrainingPairs(indexed_dataset, (8, 8), Augmentation(), PairSampling(distinct=True), id_sampling=True)
    assert len(dataset) == 2  # ids person0 (two clips) and person1
    orders = set()
    for seed in range(30):
        item = dataset[(0, seed)]
        source, driving = frame_index(item["source"].numpy()), frame_index(item["driving"].numpy())
        assert source != driving
        orders.add(source < driving)
    assert orders == {True, False}


def test_sampler_is_deterministic_resumable_and_shards_global_batches() -> None:
    single = EpochSampler(20, batch_size=4, seed=3)
    assert single.batches_per_epoch == 5
    everything = list(single)
    assert sorted(index for index, _ in everything) == sorted({index for index, _ in everything})
    single.set_position(epoch=0, batch=2)
    assert list(single) == everything[8:]
    single.set_position(epoch=1, batch=0)
    assert [i for i, _ in single] != [i for i, _ in everything]
    shards = [list(EpochSampler(20, batch_size=2, seed=3, rank=r, world_size=2)) for r in range(2)]
    for batch in range(5):
        together = shards[0][2 * batch:2 * batch + 2] + shards[1][2 * batch:2 * batch + 2]
        assert together == everything[4 * batch:4 * batch + 4]


def test_dataset_smaller_than_a_batch_is_refused() -> None:
    with pytest.raises(DatasetError, match="fewer than one global batch"):
        EpochSampler(3, batch_size=2, seed=0, world_size=2)
