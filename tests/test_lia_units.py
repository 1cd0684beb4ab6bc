"""LIA building blocks against the official modules' outputs (lia_units.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close

from animcli.models.lia.decoder import StyledConv, ToFlow
from animcli.models.lia.direction import Direction
from animcli.models.lia.layers import ResBlock, Upsample

ATOL = 1e-5
BLUR = (1, 3, 3, 1)


@pytest.fixture(scope="module")
def units(reference_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(reference_dir / "lia" / "fixtures" / "lia_units.npz"))


def tensor(units: dict[str, np.ndarray], name: str) -> torch.Tensor:
    return torch.from_numpy(units[name])


def load_prefixed(module: torch.nn.Module, units: dict[str, np.ndarray], prefix: str) -> None:
    state = {key[len(prefix) + 1:]: torch.from_numpy(value) for key, value in units.items()
             if key.startswith(prefix + ".")}
    module.load_state_dict(state, strict=True)


def test_direction_basis_keeps_householder_signs_at_official_size(units: dict[str, np.ndarray]) -> None:
    rows, motion_dim = units["dir_weight"].shape
    direction = Direction(rows, motion_dim)
    direction.load_state_dict({"weight": tensor(units, "dir_weight")})
    with torch.no_grad():
        basis = direction.basis()
        # Column by column: a flipped direction is off by 2|q|, far above the tolerance.
        for column in range(motion_dim):
            assert_close(basis[:, column], units["dir_Q"][:, column], ATOL, f"Q column {column}")
        assert_close(direction(tensor(units, "dir_alpha")), units["dir_out"], ATOL, "direction(alpha)")


def test_upsample(units: dict[str, np.ndarray]) -> None:
    assert_close(Upsample(BLUR)(tensor(units, "upsample_in")), units["upsample_out"], ATOL, "upsample")


def test_resblock(units: dict[str, np.ndarray]) -> None:
    in_channels, out_channels = units["resblock_in"].shape[1], units["resblock_out"].shape[1]
    block = ResBlock(in_channels, out_channels, BLUR)
    load_prefixed(block, units, "resblock")
    with torch.no_grad():
        assert_close(block(tensor(units, "resblock_in")), units["resblock_out"], ATOL, "resblock")


def test_upsampling_styled_conv(units: dict[str, np.ndarray]) -> None:
    in_channels, out_channels = units["styledconv_up_in"].shape[1], units["styledconv_up_out"].shape[1]
    conv = StyledConv(in_channels, out_channels, 3, units["styledconv_up_style"].shape[1], BLUR, upsample=True)
    load_prefixed(conv, units, "styledconv_up")
    with torch.no_grad():
        out = conv(tensor(units, "styledconv_up_in"), tensor(units, "styledconv_up_style"))
    assert_close(out, units["styledconv_up_out"], ATOL, "styled conv")


def test_to_flow_warps_blends_and_passes_logits(units: dict[str, np.ndarray]) -> None:
    to_flow = ToFlow(units["toflow_in"].shape[1], units["toflow_style"].shape[1], BLUR)
    load_prefixed(to_flow, units, "toflow")
    with torch.no_grad():
        warped, blended, logits = to_flow(tensor(units, "toflow_in"), tensor(units, "toflow_style"),
                                          tensor(units, "toflow_feat"), tensor(units, "toflow_skip"))
    assert_close(warped, units["toflow_feat_warp"], ATOL, "warped features")
    assert_close(blended, units["toflow_out"], ATOL, "blended map")
    assert_close(logits, units["toflow_logits"], ATOL, "flow logits")
