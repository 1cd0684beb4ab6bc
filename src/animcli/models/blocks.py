"""Building blocks shared by the keypoint families (FOMM, Monkey-Net, TPSMM).

FOMM is written with 2-D layers; Monkey-Net with 3-D layers whose kernels are 1 along the frame axis
(``dims=3``). Both use the same blocks with the same state-dict names, so each block takes ``dims``. FOMM and
Monkey-Net normalise with BatchNorm, TPSMM with affine InstanceNorm (``norm="instance"``: no running
statistics, the same in training and inference; its state dict holds only ``weight`` and ``bias``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {("batch", 2): nn.BatchNorm2d, ("batch", 3): nn.BatchNorm3d,
         ("instance", 2): nn.InstanceNorm2d, ("instance", 3): nn.InstanceNorm3d}
_AVG_POOL = {2: nn.AvgPool2d, 3: nn.AvgPool3d}


def norm_layer(norm: str, dims: int, channels: int) -> nn.Module:
    """An affine BatchNorm (``"batch"``) or InstanceNorm (``"instance"``) over ``channels``."""
    return _NORM[norm, dims](channels, affine=True)


def spatial(value: int, dims: int, frame_value: int = 1) -> int | tuple[int, ...]:
    """A kernel/padding/scale value that acts on H and W only (frame axis gets ``frame_value``)."""
    return value if dims == 2 else (frame_value, value, value)


class ResBlock(nn.Module):
    """Pre-activation residual block: norm → ReLU → conv → norm → ReLU → conv, plus the input."""

    def __init__(self, channels: int, kernel_size: int = 3, padding: int = 1, dims: int = 2,
                 norm: str = "batch") -> None:
        super().__init__()
        conv = _CONV[dims]
        k, p = spatial(kernel_size, dims), spatial(padding, dims, 0)
        self.conv1 = conv(channels, channels, kernel_size=k, padding=p)
        self.conv2 = conv(channels, channels, kernel_size=k, padding=p)
        self.norm1 = norm_layer(norm, dims, channels)
        self.norm2 = norm_layer(norm, dims, channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock(nn.Module):
    """Nearest ×2 upsampling (src = floor(dst/2)), then conv → norm → ReLU.

    With ``polyphase`` set (while the engine exports its graphs, see :func:`polyphase_upsampling`), eval-mode
    calls compute the same result without the upsampled copy (:func:`upsampled_conv3x3_relu`); training and
    eager inference keep the literal computation (measured: eager torch gains nothing from the polyphase form).
    """

    polyphase = False

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        self.dims = dims
        self.conv = _CONV[dims](in_features, out_features, kernel_size=spatial(kernel_size, dims),
                                padding=spatial(padding, dims, 0))
        self.norm = norm_layer(norm, dims, out_features)

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not self.polyphase or not _polyphase_applies(self, x):
            return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=spatial(2, self.dims)))))
        weight, bias = fold_batch_norm(self.conv, self.norm)
        if self.dims == 2:
            return upsampled_conv3x3_relu(x, weight, bias)
        # Kernels of length 1 along the frame axis: the frames are independent images.
        batch, _, frames, height, width = x.shape
        images = x.transpose(1, 2).reshape(batch * frames, -1, height, width)
        out = upsampled_conv3x3_relu(images, weight[:, :, 0], bias)
        return out.reshape(batch, frames, *out.shape[1:]).transpose(1, 2)


@contextlib.contextmanager
def polyphase_upsampling(model: nn.Module) -> Iterator[None]:
    """Every :class:`UpBlock` in ``model`` runs the polyphase form (in eval mode) inside the block."""
    blocks = [module for module in model.modules() if isinstance(module, UpBlock)]
    for block in blocks:
        block.polyphase = True
    try:
        yield
    finally:
        for block in blocks:
            block.polyphase = False


#: Below this input size the polyphase kernels' 16/9 larger weights cost more than the saved multiplications.
POLYPHASE_MIN_SIZE = 16


def _polyphase_pays(conv: nn.Conv2d | nn.Conv3d, x: Tensor) -> bool:
    spatial_3x3 = tuple(conv.kernel_size[-2:]) == (3, 3) and tuple(conv.padding[-2:]) == (1, 1)
    frame_kernel_one = tuple(conv.kernel_size[:-2]) in ((), (1,)) and tuple(conv.padding[:-2]) in ((), (0,))
    plain = all(stride == 1 for stride in conv.stride) and all(d == 1 for d in conv.dilation) and conv.groups == 1
    return spatial_3x3 and frame_kernel_one and plain and min(x.shape[-2:]) >= POLYPHASE_MIN_SIZE


def _polyphase_applies(block: UpBlock, x: Tensor) -> bool:
    """Only a BatchNorm folds into the conv (an InstanceNorm's statistics depend on the upsampled map)."""
    return isinstance(block.norm, nn.modules.batchnorm._BatchNorm) and _polyphase_pays(block.conv, x)


def fold_batch_norm(conv: nn.Conv2d | nn.Conv3d, norm: nn.BatchNorm2d | nn.BatchNorm3d) -> tuple[Tensor, Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one conv, with the norm's running statistics (eval mode)."""
    assert norm.running_var is not None and norm.running_mean is not None
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    return weight, (bias - norm.running_mean) * scale + norm.bias


#: Rows (columns) of the low-resolution input a 3-tap kernel reaches from output phase 0 or 1 of a nearest ×2
#: upsampling: phase 0 (even rows) sees rows i−1, i, i; phase 1 (odd rows) sees i, i, i+1.
_PHASE_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                            [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
#: (left, right, top, bottom) zero padding that lines phase (a, b)'s 2×2 window up with output pixel (i, j).
_PHASE_PADS = {(a, b): (1 - b, b, 1 - a, a) for a in (0, 1) for b in (0, 1)}


def upsampled_conv3x3_relu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``relu(conv2d(interpolate(x, scale_factor=2), weight, bias, padding=1))``, computed at x's resolution.

    Nearest upsampling repeats every pixel 2×2, so at each of the four output phases the 3×3 kernel touches only
    a 2×2 neighbourhood of x, with summed taps: four 2×2 convs do the work with 4/9 of the multiplications and
    without the 4× larger upsampled copy, and a pixel shuffle interleaves their outputs. Exact up to float
    rounding (taps are summed before the multiplication instead of after).
    """
    taps = _PHASE_TAPS.to(weight)
    # kernels[a, b, o, c] = Σ_ij taps[a, ·, i] · weight[o, c, i, j] · taps[b, ·, j]
    kernels = torch.einsum("api,ocij,bqj->abocpq", taps, weight, taps).to(x.dtype)
    phases = [F.relu(F.conv2d(F.pad(x, _PHASE_PADS[a, b]), kernels[a, b], bias.to(x.dtype)))
              for a in (0, 1) for b in (0, 1)]
    batch, _, height, width = x.shape
    # pixel_shuffle reads channel o·4 + a·2 + b as output pixel (2i + a, 2j + b) of channel o.
    stacked = torch.stack(phases, dim=2).reshape(batch, 4 * weight.shape[0], height, width)
    return F.pixel_shuffle(stacked, 2)


class DownBlock(nn.Module):
    """conv → norm → ReLU → 2×2 average pooling."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        self.conv = _CONV[dims](in_features, out_features, kernel_size=spatial(kernel_size, dims),
                                padding=spatial(padding, dims, 0))
        self.norm = norm_layer(norm, dims, out_features)
        self.pool = _AVG_POOL[dims](kernel_size=spatial(2, dims))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock(nn.Module):
    """conv → norm → ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 groups: int = 1, dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        self.conv = _CONV[dims](in_features, out_features, kernel_size=spatial(kernel_size, dims),
                                padding=spatial(padding, dims, 0), groups=groups)
        self.norm = norm_layer(norm, dims, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


def level_features(block_expansion: int, level: int, max_features: int) -> int:
    return min(max_features, block_expansion * (2**level))


class Encoder(nn.Module):
    """Hourglass encoder; returns every intermediate tensor, the input first."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(in_features if i == 0 else level_features(block_expansion, i, max_features),
                      level_features(block_expansion, i + 1, max_features), dims=dims, norm=norm)
            for i in range(num_blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: upsample, then concatenate [upsampled, skip] at each level.

    ``out_features`` adds a final conv (Monkey-Net's ``use_last_conv``); ``additional_features`` widens every
    up block's input for features concatenated by the caller before each block.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 dims: int = 2, out_features: int | None = None, additional_features: int = 0,
                 norm: str = "batch") -> None:
        super().__init__()
        self.up_blocks = nn.ModuleList(
            UpBlock((1 if i == num_blocks - 1 else 2) * level_features(block_expansion, i + 1, max_features)
                    + additional_features,
                    level_features(block_expansion, i, max_features), dims=dims, norm=norm)
            for i in reversed(range(num_blocks))
        )
        #: channels of each level's concatenation [upsampled, skip], deepest first
        self.level_filters = [level_features(block_expansion, i, max_features)
                              + (in_features if i == 0 else level_features(block_expansion, i, max_features))
                              for i in reversed(range(num_blocks))]
        self.out_filters = block_expansion + in_features + additional_features
        if out_features is not None:
            self.conv = _CONV[dims](self.out_filters, out_features, kernel_size=spatial(3, dims),
                                    padding=spatial(1, dims, 0))
            self.out_filters = out_features

    def levels(self, skips: list[Tensor]) -> list[Tensor]:
        """Every level's concatenation [upsampled, skip], deepest first (TPSMM's ``mode=1``)."""
        skips = list(skips)
        outs = [skips.pop()]
        for block in self.up_blocks:
            outs.append(torch.cat([block(outs[-1]), skips.pop()], dim=1))
        return outs[1:]

    def forward(self, skips: list[Tensor]) -> Tensor:
        out = self.levels(skips)[-1]
        if hasattr(self, "conv"):
            out = self.conv(out)
        return out


class Hourglass(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 dims: int = 2, out_features: int | None = None, norm: str = "batch") -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, dims=dims, norm=norm)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, dims=dims,
                               out_features=out_features, norm=norm)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))

    def levels(self, x: Tensor) -> list[Tensor]:
        """Every decoder level's output, deepest first (see ``Decoder.levels``)."""
        return self.decoder.levels(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian low-pass then subsampling; the kernel is a state-dict buffer named ``weight``."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1  # Python's round (ties to even), as the official code
        self.ka = kernel_size // 2
        self.kb = self.ka if kernel_size % 2 else self.ka - 1
        t = torch.arange(kernel_size, dtype=torch.float32)
        mean = (kernel_size - 1) / 2
        g = torch.exp(-((t - mean) ** 2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.expand(channels, 1, kernel_size, kernel_size).clone())
        self.groups = channels
        self.scale = scale
        self.step = int(1 / scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, self.weight.to(out.dtype), groups=self.groups)
        return out[:, :, :: self.step, :: self.step]


def make_coordinate_grid(spatial_size: tuple[int, int], like: Tensor) -> Tensor:
    """(h, w, 2) grid of (x, y) in [-1, 1], ±1 on the outer pixel centres (align_corners=True convention)."""
    h, w = spatial_size
    # 2*i/(n-1) - 1 exactly as the official code computes it, so values agree to the last bit.
    y = 2 * (torch.arange(h, dtype=like.dtype, device=like.device) / max(h - 1, 1)) - 1
    x = 2 * (torch.arange(w, dtype=like.dtype, device=like.device) / max(w - 1, 1)) - 1
    return torch.stack([x[None, :].expand(h, w), y[:, None].expand(h, w)], dim=-1)


def kp2gaussian(kp_value: Tensor, spatial_size: tuple[int, int], kp_variance: float | Tensor) -> Tensor:
    """Unnormalised Gaussians (..., K, h, w) centred on keypoints (..., K, 2), peak value 1.

    ``kp_variance`` is a number (isotropic, FOMM), a per-keypoint variance (..., K, 1, 1) or a covariance
    matrix (..., K, 2, 2) (Monkey-Net).
    """
    grid = make_coordinate_grid(spatial_size, kp_value)
    diff = grid - kp_value[..., None, None, :]
    if isinstance(kp_variance, Tensor) and kp_variance.shape[-2:] == (2, 2):
        return _covariance_gaussian(diff, kp_variance)
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def _covariance_gaussian(diff: Tensor, covariance: Tensor) -> Tensor:
    """exp(-½ dᵀ Σ⁻¹ d); in float32 because half precision cannot invert small covariances."""
    with float32_region(diff):
        precision = inverse_2x2(covariance.float())[..., None, None, :, :]
        diff32 = diff.float()
        mahalanobis = (diff32.unsqueeze(-2) @ precision @ diff32.unsqueeze(-1))[..., 0, 0]
        return torch.exp(-0.5 * mahalanobis)


def inverse_2x2(matrix: Tensor) -> Tensor:
    """Inverse of (..., 2, 2) matrices in closed form: [[d, -b], [-c, a]] / (ad - bc).

    Exported graphs need it (ONNX has no matrix inverse), and it is one fused expression instead of a
    LAPACK call per batch on CPU and GPU alike.
    """
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    determinant = a * d - b * c
    adjugate = torch.stack([torch.stack([d, -b], dim=-1), torch.stack([-c, a], dim=-1)], dim=-2)
    return adjugate / determinant[..., None, None]


def float32_region(like: Tensor) -> torch.autocast:
    """Autocast switched off, for the computations that must stay in float32 under fp16 inference: sampling grids,
    keypoint/jacobian algebra (a float16 product loses the sub-pixel precision of coordinates, and CUDA has no
    float16 matrix inverse), covariance inverses, LIA's QR and style modulation."""
    return torch.autocast(like.device.type, enabled=False)


def resize_to(tensor: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
    """Bilinear (no antialias) resize of a (B,C,h,w) map when its size differs (FOMM: align_corners False,
    TPSMM: True)."""
    if tuple(tensor.shape[2:]) == size:
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=align_corners)


def deform(feature: Tensor, deformation: Tensor, align_corners: bool = True,
           resize_align_corners: bool = False) -> Tensor:
    """Warp ``feature`` by a (B,h,w,2) backward flow, resizing the flow to the feature size first."""
    flow = resize_to(deformation.permute(0, 3, 1, 2), tuple(feature.shape[2:]), resize_align_corners)
    return grid_sample(feature, flow.permute(0, 2, 3, 1), align_corners)


def grid_sample(image: Tensor, grid: Tensor, align_corners: bool = True, padding_mode: str = "zeros") -> Tensor:
    """Bilinear sampling kept in float32: fp16 sampling coordinates lose sub-pixel precision."""
    with float32_region(image):
        out = F.grid_sample(image.float(), grid.float(), mode="bilinear", padding_mode=padding_mode,
                            align_corners=align_corners)
    return out.to(image.dtype)
