"""A family's inference as three traceable graphs, for backends that run exported models (ONNX).

``encode_source``, ``encode_driving`` and ``generate`` of :class:`AnimationModel` become three ``nn.Module``s
whose inputs and outputs are flat tuples of tensors:

* source encoder: source image (1, 3, S, S) → the source state's tensors, in ``state_fields`` order;
* driving encoder: frames (B, 3, S, S) → the motion's tensors, in ``motion_keys`` order;
* renderer: the source state's tensors + the transferred motion's tensors → frames (B, 3, S, S) in [0, 1].

The source state is flattened generically: a family's state is a dataclass whose fields are tensors, lists
of tensors or motions (``dict[str, Tensor]``), so any family plugs in without code here; a family whose
computation needs a different split overrides ``AnimationModel.inference_graphs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

Motion = dict[str, Tensor]


class Family(Protocol):
    """The part of ``AnimationModel`` the graphs call (a protocol, so ``models.base`` can import this module)."""

    def encode_source(self, source: Tensor) -> Any: ...

    def encode_driving(self, frames: Tensor) -> Motion: ...

    def transfer(self, source_state: Any, driving: Motion, initial: Motion, options: Any) -> Motion: ...

    def generate(self, source_state: Any, motion: Motion) -> Tensor: ...

    def reconstruction_options(self) -> Any: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...


@dataclass(frozen=True)
class StateLayout:
    """How a source state flattens: each field's name and kind, with its list length or motion keys."""

    state_type: type
    fields: tuple[tuple[str, str, tuple[str, ...] | int], ...]  # (name, "tensor" | "list" | "motion", detail)

    @classmethod
    def of(cls, state: Any) -> StateLayout:
        if not dataclasses.is_dataclass(state):
            raise TypeError(f"a source state must be a dataclass, not {type(state).__name__}")
        fields = []
        for field in dataclasses.fields(state):
            value = getattr(state, field.name)
            if isinstance(value, Tensor):
                fields.append((field.name, "tensor", 0))
            elif isinstance(value, dict):
                fields.append((field.name, "motion", tuple(value)))
            elif isinstance(value, (list, tuple)):
                fields.append((field.name, "list", len(value)))
            else:
                raise TypeError(f"source state field {field.name!r} is not a tensor, list of tensors or motion")
        return cls(type(state), tuple(fields))

    def names(self) -> list[str]:
        """One name per flat tensor, e.g. ``kp.value``, ``feats.2``."""
        names = []
        for name, kind, detail in self.fields:
            if kind == "tensor":
                names.append(name)
            elif kind == "motion":
                names.extend(f"{name}.{key}" for key in detail)
            else:
                names.extend(f"{name}.{i}" for i in range(detail))
        return names

    def flatten(self, state: Any) -> list[Tensor]:
        flat: list[Tensor] = []
        for name, kind, detail in self.fields:
            value = getattr(state, name)
            if kind == "tensor":
                flat.append(value)
            elif kind == "motion":
                flat.extend(value[key] for key in detail)
            else:
                flat.extend(value)
        return flat

    def unflatten(self, flat: list[Tensor] | tuple[Tensor, ...]) -> Any:
        values, position = {}, 0
        for name, kind, detail in self.fields:
            if kind == "tensor":
                values[name] = flat[position]
                position += 1
            elif kind == "motion":
                values[name] = dict(zip(detail, flat[position:position + len(detail)], strict=True))
                position += len(detail)
            else:
                values[name] = list(flat[position:position + detail])
                position += detail
        return self.state_type(**values)


class SourceEncoderGraph(nn.Module):
    def __init__(self, model: Family, layout: StateLayout) -> None:
        super().__init__()
        self.model = model
        self.layout = layout

    def forward(self, source: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.layout.flatten(self.model.encode_source(source)))


class DrivingEncoderGraph(nn.Module):
    def __init__(self, model: Family, motion_keys: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.motion_keys = motion_keys

    def forward(self, frames: Tensor) -> tuple[Tensor, ...]:
        motion = self.model.encode_driving(frames)
        return tuple(motion[key] for key in self.motion_keys)


class RendererGraph(nn.Module):
    def __init__(self, model: Family, layout: StateLayout, motion_keys: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.layout = layout
        self.motion_keys = motion_keys

    def forward(self, *tensors: Tensor) -> Tensor:
        state_count = len(tensors) - len(self.motion_keys)
        state = self.layout.unflatten(tensors[:state_count])
        motion: Motion = dict(zip(self.motion_keys, tensors[state_count:], strict=True))
        return self.model.generate(state, motion)


@dataclass
class InferenceGraphs:
    """The three graphs of one model at one input size, with example inputs to trace them with."""

    source_encoder: nn.Module
    driving_encoder: nn.Module
    renderer: nn.Module
    state_names: list[str]
    driving_motion_keys: tuple[str, ...]  # what the driving encoder returns
    rendered_motion_keys: tuple[str, ...]  # what the renderer takes (the transferred motion)
    layout: StateLayout
    example_source: Tensor
    example_state: list[Tensor]
    example_motion: list[Tensor]


#: frames in the example batch the graphs are traced with: more than one, so no shape is specialised to 1.
EXAMPLE_FRAMES = 2


def generic_graphs(model: Family, size: int) -> InferenceGraphs:
    """Graphs that call the model's own ``encode_source`` / ``encode_driving`` / ``generate`` at ``size``.

    Traced on fixed random images: they fix the state's structure (list lengths, motion keys); the motion to
    render is the example frames' transfer in absolute mode, whose keys every transfer mode keeps.
    """
    images = torch.rand(1 + EXAMPLE_FRAMES, 3, size, size, generator=torch.Generator().manual_seed(0))
    parameter = next(model.parameters(), None)
    if parameter is not None:
        images = images.to(parameter.device)
    example_source, example_frames = images[:1], images[1:]
    state = model.encode_source(example_source)
    layout = StateLayout.of(state)
    driving = model.encode_driving(example_frames)
    rendered = model.transfer(state, driving, {key: value[:1] for key, value in driving.items()},
                              model.reconstruction_options())
    driving_keys, rendered_keys = tuple(driving), tuple(rendered)
    # In eval mode like the model: exporters restore a graph's mode afterwards, recursively, and a wrapper left
    # in its default training mode would switch the model's BatchNorms to batch statistics.
    return InferenceGraphs(
        source_encoder=SourceEncoderGraph(model, layout).eval(),
        driving_encoder=DrivingEncoderGraph(model, driving_keys).eval(),
        renderer=RendererGraph(model, layout, rendered_keys).eval(),
        state_names=layout.names(),
        driving_motion_keys=driving_keys,
        rendered_motion_keys=rendered_keys,
        layout=layout,
        example_source=example_source,
        example_state=layout.flatten(state),
        example_motion=[rendered[key] for key in rendered_keys],
    )
