"""``animcli train``: the papers' training for FOMM, LIA and Monkey-Net, resumable, single- or multi-process."""

from animcli.train.loop import TrainError, TrainingReporter, TrainResult, train
from animcli.train.options import TrainOptions

__all__ = ["TrainError", "TrainOptions", "TrainResult", "TrainingReporter", "train"]
