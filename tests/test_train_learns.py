"""Every family can learn: a tiny model overfits the first frames of one video within seconds.

The shapes clip (one small dot on black) is mostly background, so a model that learns no motion at all still
scores well by painting everything black (here 0.64× of copying the source frame). The trained reconstruction
must beat both trivial answers, copying the source frame and an all-black frame, by a clear margin: only a model
that moves the dot to where the driving frame has it does that. LIA reads the whole frame into one motion code,
which a dot on black hardly changes: it is held to the same bar on a textured clip (``data synth --kind
textured``), with the small-recipe switches of docs/train.md (on the shapes clip it does not pass yet), and so
is TPSMM, whose tiny model paints the shapes clip black first.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_train_tiny import (
    FRAME,
    tiny_fomm_config,
    tiny_lia_config,
    tiny_monkeynet_config,
    tiny_tpsmm_config,
    write_config,
)

from animcli.data.textured import textured_clip
from animcli.media import read_image, resize_square, write_image
from animcli.train import TrainOptions, train
from animcli.train.validation import reconstruction_l1
from animcli.weights.loading import load_model

pytestmark = pytest.mark.filterwarnings("ignore:training WITHOUT the VGG19")

CLIP = "00000036.png"  # the shape crosses a good part of the frame within the first frames
TEXTURED_SEED = 5  # any seed: each textured clip moves its whole frame
NUM_FRAMES = 8
BATCH = 4
#: the trained model must score below this fraction of the better trivial baseline (measured: FOMM 0.65,
#: Monkey-Net 0.43, LIA 0.67 and TPSMM 0.66–0.69 on the textured clip; a model that learned no motion scores ≥ 1)
REQUIRED_RATIO = 0.75


def overfit_config(make: Callable[[], dict[str, Any]], steps: int) -> dict[str, Any]:
    """The tiny config, trained on one clip: no augmentation, no learning-rate decay, ``steps`` steps."""
    config = copy.deepcopy(make())
    config.setdefault("dataset_params", {})["augmentation_params"] = {}
    train_params = config["train_params"]
    train_params.update(batch_size=BATCH, num_repeats=BATCH * 4, num_epochs=steps)
    if "epoch_milestones" in train_params:
        train_params["epoch_milestones"] = [steps]
    return config


def learning_lia_config() -> dict[str, Any]:
    """The tiny LIA with the small-recipe switches that made it learn (docs/train.md): output at the data's
    mean, masks open, identity flows, Adam β1 = 0.9, no GAN term, and twice the learning rate (measured on the
    textured clip after 600 steps: 0.67×; 0.78× at the shipped rate; the paper's settings 1.24× after 300)."""
    config = tiny_lia_config()
    config["train_params"].update(output_bias="data_mean", mask_bias_init=2.0, flow_init="identity",
                                  generator_beta1=0.9, gan_start_step=LIA_STEPS, lr=0.004)
    return config


def learning_tpsmm_config() -> dict[str, Any]:
    """The tiny TPSMM (the shapes recipe's lr 2e-3) without the BG predictor: the clip's motion is all foreground.
    On the shapes clip a TPSMM this small settles on "paint it black" first (1.05× after 600 steps): it is held to
    the bar on the textured clip (400 steps: measured 0.69× on one thread, 0.66× on two)."""
    config = tiny_tpsmm_config()
    config["model_params"]["common_params"]["bg"] = False
    return config


LIA_STEPS = 600
CASES: dict[str, tuple[Callable[[], dict[str, Any]], int, str]] = {
    "fomm": (tiny_fomm_config, 400, "shapes"),
    "monkeynet": (tiny_monkeynet_config, 200, "shapes"),
    "lia": (learning_lia_config, LIA_STEPS, "textured"),
    "tpsmm": (learning_tpsmm_config, 400, "textured"),
}


def write_clip(root: Path, frames: list[np.ndarray]) -> Path:
    """ROOT/train and ROOT/test both holding ``frames`` as one png strip."""
    for split in ("train", "test"):
        (root / split).mkdir()
        write_image(root / split / CLIP, np.concatenate(frames, axis=1))
    return root


@pytest.fixture(scope="module")
def clips(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first frames of one shapes video, and one textured synthetic clip."""
    strip = read_image(shared_dir / "datasets" / "shapes" / "train" / CLIP)
    height = strip.shape[0]
    shapes = [resize_square(strip[:, t * height:(t + 1) * height], FRAME) for t in range(NUM_FRAMES)]
    return {"shapes": write_clip(tmp_path_factory.mktemp("shapes-clip"), shapes),
            "textured": write_clip(tmp_path_factory.mktemp("textured-clip"),
                                   list(textured_clip(TEXTURED_SEED, FRAME, NUM_FRAMES)))}


@pytest.mark.parametrize("family", sorted(CASES))
def test_tiny_model_overfits_one_clip(family: str, clips: dict[str, Path], tmp_path: Path) -> None:
    make, steps, kind = CASES[family]
    clip = clips[kind]
    config = overfit_config(make, steps)
    config_path = write_config(config, tmp_path / "config.yaml")
    out = tmp_path / "run"
    train(TrainOptions(model=family, data=clip, out=out, config=str(config_path), max_steps=steps,
                       perceptual="none", checkpoint_every=steps, sample_every=steps))
    checkpoint = next(out.glob("last.*"))
    model = load_model(checkpoint, next(out.glob("config.*")), device="cpu")
    score = reconstruction_l1(model, clip / "test")
    frames = read_image(clip / "test" / CLIP).astype(np.float64) / 255
    all_black = float(frames.mean())
    print(f"{family} on {kind}: {score.model:.4f} (copy source {score.copy_source:.4f}, all black {all_black:.4f})")
    assert score.model < REQUIRED_RATIO * min(score.copy_source, all_black)
