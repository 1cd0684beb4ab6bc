"""Training data: dataset layouts, video reading, the official augmentations, resumable sampling."""

from animcli.data.augment import Augmentation
from animcli.data.dataset import DatasetError, EpochSampler, PairSampling, TrainingPairs, split_videos
from animcli.data.videos import read_video

__all__ = ["Augmentation", "DatasetError", "EpochSampler", "PairSampling", "TrainingPairs", "read_video",
           "split_videos"]
