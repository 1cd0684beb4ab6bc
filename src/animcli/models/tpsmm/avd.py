"""TPSMM's AVD network (animation via disentanglement, from MRAA): rewrites driving keypoints as the driving
pose on the source's identity, so a source of another shape keeps its proportions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from animcli.models.base import Motion

AVD_HIDDEN = (256, 512, 1024)


def mlp(widths: Sequence[int]) -> nn.Sequential:
    """Linear → BatchNorm1d → ReLU between consecutive widths, a bare Linear last (official indices)."""
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(widths) - 2:
            layers += [nn.BatchNorm1d(width_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    def __init__(self, num_tps: int, id_bottle_size: int = 64, pose_bottle_size: int = 64,
                 hidden: Sequence[int] = AVD_HIDDEN) -> None:
        super().__init__()
        size = 10 * num_tps
        self.id_encoder = mlp([size, *hidden, id_bottle_size])
        self.pose_encoder = mlp([size, *hidden, pose_bottle_size])
        self.decoder = mlp([pose_bottle_size + id_bottle_size, *reversed(hidden), size])

    def embeddings(self, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor, Tensor]:
        """(identity of the source, pose of the driving frame), each (B, bottleneck)."""
        batch = kp_driving.shape[0]
        identity = self.id_encoder(kp_source.expand(batch, *kp_source.shape[1:]).reshape(batch, -1))
        return identity, self.pose_encoder(kp_driving.reshape(batch, -1))

    def forward(self, kp_source: Motion, kp_driving: Motion) -> Motion:
        identity, pose = self.embeddings(kp_source["fg_kp"], kp_driving["fg_kp"])
        rec = self.decoder(torch.cat([pose, identity], dim=1))
        return {"fg_kp": rec.view(*kp_driving["fg_kp"].shape)}


def avd_hidden_widths(state_dict: dict[str, Tensor]) -> tuple[int, ...]:
    """The hidden widths of a saved AVD network, read off its identity encoder."""
    return tuple(int(state_dict[f"id_encoder.{i}.weight"].shape[0]) for i in (0, 3, 6))
