"""Training pairs and test videos from a dataset root, and the resumable, shardable sampling order.

Layout: ``ROOT/train`` and ``ROOT/test`` (the official layout); a root without them is split 80/20 by a fixed
seed. Randomness is explicit: the sampler hands every item a seed derived from (run seed, epoch, position),
and the dataset draws the frame pair and augmentation from it. So the data stream is a pure function of the
run seed and the position in it; resuming at step N replays exactly what an uninterrupted run would see, with
any number of loader workers or processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from animcli.common.errors import AnimcliError
from animcli.data.augment import Augmentation, fit_frames
from animcli.data.videos import list_videos, read_frame_pair

ItemKey = tuple[int, int]  # (item index, item seed)
TEST_FRACTION = 0.2


class DatasetError(AnimcliError):
    """A dataset root that does not hold usable videos."""


def split_videos(root: Path, split: str) -> list[Path]:
    """The videos of ``split`` ('train' or 'test') under ``root``."""
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a directory")
    if (root / "train").is_dir():
        folder = root / split
        if not folder.is_dir():
            raise DatasetError(f"{root} has a train/ folder but no {split}/ folder")
        videos = list_videos(folder)
    else:
        everything = list_videos(root)
        order = np.random.default_rng(0).permutation(len(everything))
        num_test = int(round(len(everything) * TEST_FRACTION))
        chosen = order[:num_test] if split == "test" else order[num_test:]
        videos = [everything[i] for i in sorted(chosen)]
    if not videos:
        raise DatasetError(f"no {split} videos under {root} (expected video files, frame folders or png strips)")
    return videos


def video_id(path: Path) -> str:
    """Official id sampling: a video's id is its name up to the first '#' (e.g. one id per VoxCeleb person)."""
    return path.name.split("#")[0]


@dataclass(frozen=True)
class PairSampling:
    """How the two frames of a training pair are drawn from a video.

    distinct=False (FOMM, Monkey-Net): two indices with replacement, sorted → (source, driving).
    distinct=True (LIA): two different frames in random order.
    """

    distinct: bool = False

    def choose(self, rng: np.random.Generator, num_frames: int) -> list[int]:
        if self.distinct and num_frames > 1:
            return [int(i) for i in rng.choice(num_frames, size=2, replace=False)]
        return sorted(int(i) for i in rng.choice(num_frames, size=2, replace=True))


class TrainingPairs(Dataset):
    """(source, driving) frame pairs, CHW float32 in [0, 1], ``num_repeats`` passes per epoch."""

    def __init__(self, root: Path, frame_shape: tuple[int, int], augmentation: Augmentation,
                 pair_sampling: PairSampling, id_sampling: bool = False, num_repeats: int = 1) -> None:
        videos = split_videos(root, "train")
        groups: dict[str, list[Path]] = {}
        for path in videos:
            groups.setdefault(video_id(path) if id_sampling else path.name, []).append(path)
        self.groups = list(groups.values())
        self.frame_shape = frame_shape
        self.augmentation = augmentation
        self.pair_sampling = pair_sampling
        self.num_repeats = max(1, int(num_repeats))

    def __len__(self) -> int:
        return len(self.groups) * self.num_repeats

    def __getitem__(self, key: ItemKey) -> dict[str, torch.Tensor]:
        index, seed = key
        rng = np.random.default_rng(seed)
        group = self.groups[index % len(self.groups)]
        path = group[int(rng.integers(len(group)))]
        frames = read_frame_pair(path, lambda num_frames: self.pair_sampling.choose(rng, num_frames))
        clip = fit_frames(self.augmentation(frames.astype(np.float32) / 255.0, rng), self.frame_shape)
        tensors = torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))
        return {"source": tensors[0], "driving": tensors[1]}


class EpochSampler(Sampler[ItemKey]):
    """Shuffled item keys for one process of a (possibly distributed) run, from a given position on.

    Global batch b of an epoch is positions [b·B·W, (b+1)·B·W) of a seeded permutation (B = per-process
    batch, W = world size); process r takes its r-th block of B. Incomplete global batches are dropped.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = num_items // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise DatasetError(f"the training set has {num_items} items, fewer than one global batch of "
                               f"{batch_size * world_size}; lower --batch-size or raise num_repeats")
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch: int, batch: int) -> None:
        self.epoch, self.start_batch = epoch, batch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[ItemKey]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator).tolist()
        global_batch = self.batch_size * self.world_size
        for batch in range(self.start_batch, self.batches_per_epoch):
            first = batch * global_batch + self.rank * self.batch_size
            for position in range(first, first + self.batch_size):
                seed = np.random.SeedSequence([self.seed, self.epoch, position]).generate_state(1)[0]
                yield order[position], int(seed)
