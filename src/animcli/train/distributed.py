"""Multi-process training through ``torchrun``: process group, DDP wrapping, collective helpers.

``torchrun --nproc-per-node G [--nnodes N --node-rank R --rdzv-endpoint HOST:PORT] -m animcli train …`` sets
RANK / WORLD_SIZE / LOCAL_RANK; without them the run is a single process and every helper is a no-op.
NCCL is used for CUDA, gloo for CPU (tests). BatchNorm is synchronised across processes on CUDA only, as
the official code did on its GPUs (torch's SyncBatchNorm has no CPU kernel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def init(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

    def device(self, requested: torch.device) -> torch.device:
        """Each CUDA process drives the GPU of its local rank."""
        if requested.type == "cuda" and self.enabled:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return requested

    def parallel(self, module: nn.Module) -> nn.Module:
        if not self.enabled:
            return module
        device_ids = [self.local_rank] if next(module.parameters()).is_cuda else None
        # A loss module does not use every parameter in every forward (e.g. the discriminator when the GAN
        # weight is 0, the generator in the discriminator's loss).
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)

    def sync_batch_norm(self, module: nn.Module) -> nn.Module:
        if self.enabled and next(module.parameters()).is_cuda:
            return nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return module

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is true on at least one (agreeing to stop together)."""
        if not self.enabled:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, obj: Any) -> list[Any]:
        if not self.enabled:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()
