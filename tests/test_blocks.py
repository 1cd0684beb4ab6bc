"""The polyphase form of the keypoint families' up blocks equals the literal upsample → conv → BN → ReLU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from animcli.models.blocks import POLYPHASE_MIN_SIZE, UpBlock, polyphase_upsampling


def block_with_statistics(dims: int) -> UpBlock:
    torch.manual_seed(0)
    block = UpBlock(6, 5, dims=dims)
    with torch.no_grad():
        block.norm.running_mean.uniform_(-1, 1)
        block.norm.running_var.uniform_(0.5, 2)
        block.norm.weight.uniform_(0.5, 2)
        block.norm.bias.uniform_(-1, 1)
    return block


def literal(block: UpBlock, x: torch.Tensor) -> torch.Tensor:
    scale = 2 if block.dims == 2 else (1, 2, 2)
    return F.relu(block.norm(block.conv(F.interpolate(x, scale_factor=scale))))


@pytest.mark.parametrize("shape", [(2, 6, POLYPHASE_MIN_SIZE, POLYPHASE_MIN_SIZE + 3), (2, 6, 3, 16, 20)],
                         ids=["2d", "3d-frames"])
def test_polyphase_equals_the_literal_block(shape: tuple[int, ...]) -> None:
    block = block_with_statistics(dims=len(shape) - 2).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        expected = literal(block, x)
        with polyphase_upsampling(block):
            got = block(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert block.polyphase is False  # the context restores the literal form


def test_polyphase_is_off_outside_the_context_and_in_training() -> None:
    block = block_with_statistics(dims=2)
    x = torch.randn(2, 6, 16, 16)
    with polyphase_upsampling(block):
        assert torch.equal(block(x), literal(block, x))  # training: batch statistics, literal computation
    block.eval()
    assert torch.equal(block(x), literal(block, x))


def test_small_inputs_keep_the_literal_form() -> None:
    """Below POLYPHASE_MIN_SIZE the 16/9 larger phase kernels cost more than they save (measured)."""
    block = block_with_statistics(dims=2).eval()
    x = torch.randn(1, 6, POLYPHASE_MIN_SIZE // 2, POLYPHASE_MIN_SIZE // 2)
    with torch.no_grad(), polyphase_upsampling(block):
        assert torch.equal(block(x), literal(block, x))
