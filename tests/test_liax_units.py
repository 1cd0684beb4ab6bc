"""LIA-X building blocks against the official modules' outputs (liax_units.npz): the LIA blocks in their LIA-X
variant (flat activation biases, ``up`` children, align_corners=True warps) and the blocks LIA-X adds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_close
from helpers import load_prefixed as loaded

from animcli.models.lia.decoder import StyledConv, ToFlow, ToRGB
from animcli.models.lia.direction import Direction
from animcli.models.lia.layers import LIA_X, ConvLayer, ResBlock, Upsample
from animcli.models.liax.decoder import FlowResBlock, RgbResBlock

ATOL = 1e-5
R_DIAG_ATOL = 1e-4
BLUR = (1, 3, 3, 1)


@pytest.fixture(scope="module")
def units(reference_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(reference_dir / "liax" / "fixtures" / "liax_units.npz"))


def tensor(units: dict[str, np.ndarray], name: str) -> torch.Tensor:
    return torch.from_numpy(units[name])


def test_direction_at_published_size_keeps_householder_signs(units: dict[str, np.ndarray]) -> None:
    rows, motion_dim = units["direction_weight"].shape
    direction = Direction(rows, motion_dim)
    direction.load_state_dict({"weight": tensor(units, "direction_weight")})
    with torch.no_grad():
        basis = direction.basis()
        for column in range(motion_dim):  # a flipped column is off by 2|q|, far above the tolerance
            assert_close(basis[:, column], units["direction_Q"][:, column], ATOL, f"Q column {column}")
        _, r = torch.linalg.qr(tensor(units, "direction_weight") + 1e-8)
        assert_close(torch.diagonal(r), units["direction_R_diag"], R_DIAG_ATOL, "R diagonal")
        assert_close(direction(tensor(units, "direction_alpha")), units["direction_out"], ATOL, "Dir(alpha)")
        assert_close(direction(tensor(units, "direction_alpha"), basis), units["direction_out"], ATOL, "given Q")


def test_flow_res_block(units: dict[str, np.ndarray]) -> None:
    channels, style_dim = units["flowresblock_in"].shape[1], units["flowresblock_style"].shape[1]
    block = loaded(FlowResBlock(channels, style_dim, BLUR), units, "flowresblock")
    with torch.no_grad():
        out = block(tensor(units, "flowresblock_in"), tensor(units, "flowresblock_style"))
    assert_close(out, units["flowresblock_out"], ATOL, "FlowResBlock")


def test_to_flow_warps_with_align_corners(units: dict[str, np.ndarray]) -> None:
    channels, style_dim = units["toflow_h"].shape[1], units["toflow_style"].shape[1]
    to_flow = loaded(ToFlow(channels, style_dim, BLUR, variant=LIA_X), units, "toflow")
    with torch.no_grad():
        warped, blended, logits = to_flow(tensor(units, "toflow_h"), tensor(units, "toflow_style"),
                                          tensor(units, "toflow_feat"), tensor(units, "toflow_skip"))
    assert_close(logits, units["toflow_logits"], ATOL, "logits")
    assert_close(warped, units["toflow_feat_warp"], ATOL, "warped feature")
    assert_close(blended, units["toflow_h_out"], ATOL, "blended map")


def test_encoder_res_block_widens_first(units: dict[str, np.ndarray]) -> None:
    in_channels, out_channels = units["enc_resblock_in"].shape[1], units["enc_resblock_out"].shape[1]
    block = loaded(ResBlock(in_channels, out_channels, BLUR, variant=LIA_X), units, "enc_resblock")
    with torch.no_grad():
        assert_close(block(tensor(units, "enc_resblock_in")), units["enc_resblock_out"], ATOL, "encoder ResBlock")


def test_rgb_res_block(units: dict[str, np.ndarray]) -> None:
    block = loaded(RgbResBlock(units["dec_resblock_in"].shape[1], BLUR), units, "dec_resblock")
    with torch.no_grad():
        assert_close(block(tensor(units, "dec_resblock_in")), units["dec_resblock_out"], ATOL, "RGB ResBlock")


def test_upsampling_conv_layer(units: dict[str, np.ndarray]) -> None:
    in_channels, out_channels = units["convlayer_up_in"].shape[1], units["convlayer_up_out"].shape[1]
    layer = loaded(ConvLayer(in_channels, out_channels, 3, BLUR, upsample=True, variant=LIA_X), units, "convlayer_up")
    with torch.no_grad():
        assert_close(layer(tensor(units, "convlayer_up_in")), units["convlayer_up_out"], ATOL, "ConvLayer up")


def test_upsampling_styled_conv(units: dict[str, np.ndarray]) -> None:
    in_channels, out_channels = units["styledconv_up_in"].shape[1], units["styledconv_up_out"].shape[1]
    conv = StyledConv(in_channels, out_channels, 3, units["styledconv_up_style"].shape[1], BLUR, upsample=True,
                      variant=LIA_X)
    conv = loaded(conv, units, "styledconv_up")
    with torch.no_grad():
        out = conv(tensor(units, "styledconv_up_in"), tensor(units, "styledconv_up_style"))
    assert_close(out, units["styledconv_up_out"], ATOL, "StyledConv up")


def test_to_rgb_adds_the_upsampled_previous_rgb(units: dict[str, np.ndarray]) -> None:
    to_rgb = loaded(ToRGB(units["torgb_in"].shape[1], BLUR, variant=LIA_X), units, "torgb")
    with torch.no_grad():
        assert_close(to_rgb(tensor(units, "torgb_in"), tensor(units, "torgb_skip")), units["torgb_out"], ATOL,
                     "ToRGB")


def test_upsample(units: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        assert_close(Upsample(BLUR)(tensor(units, "upsample_in")), units["upsample_out"], ATOL, "Upsample")
