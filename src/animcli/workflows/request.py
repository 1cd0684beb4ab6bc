"""Every option of ``animcli animate`` as one value, and the one function that carries it out.

``AnimateRequest`` is the single place the animate options are declared for the library: the ``animate``
command builds one from its arguments, and ``animcli batch`` accepts exactly its fields (snake_case) as the
keys of a manifest line, with the types, choices and lower bounds declared here. An option added here is
therefore accepted by both. ``run_animation`` is what both execute; a :class:`ModelCache` lets a long-lived
worker keep its models loaded across requests.
"""

from __future__ import annotations

import functools
import types
import typing
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from animcli.common.choices import AudioSource, Backend, Blend, Normalization, Precision, TransferMode
from animcli.common.errors import AnimcliError

if TYPE_CHECKING:  # the CLI imports this module, and torch must not load before a command runs
    from animcli.inference.smoothing import Smoothing
    from animcli.media.trim import Trim
    from animcli.models.base import AnimationModel
    from animcli.workflows.output import AnimationResult

#: The model animate uses when neither ``model`` nor ``checkpoint`` is given.
DEFAULT_MODEL = "demo"
#: Field metadata: ``path`` says how a relative value in a manifest resolves against the manifest's folder —
#: ``always`` (a file the job reads or writes) or ``if-exists`` (a name unless such a file exists there).
PATH_ALWAYS, PATH_IF_EXISTS = "always", "if-exists"


def _option(default: Any = None, *, minimum: float | None = None, path: str | None = None,
            check: Callable[[Any], Any] | None = None) -> Any:
    """``check`` validates a value beyond its type (e.g. the ``--faces`` syntax), raising ``AnimcliError``."""
    return field(default=default, metadata={"minimum": minimum, "path": path, "check": check})


def _check_faces(value: str) -> None:
    from animcli.crop.selection import parse_faces

    parse_faces(value)


def _check_driving_face(value: str) -> None:
    from animcli.crop.selection import parse_faces

    if not parse_faces(value, "--driving-face").single:
        raise AnimcliError(f"--driving-face {value}: the driving face is one face (largest, N or @X,Y)")


@dataclass(frozen=True)
class AnimateRequest:
    """Animate ``source`` with the motion of ``driving`` into ``output`` (see ``animcli animate --help``)."""

    source: Path = _option(path=PATH_ALWAYS)
    driving: str = _option(path=PATH_ALWAYS)
    output: str = _option(path=PATH_ALWAYS)
    model: str | None = _option(path=PATH_IF_EXISTS)
    checkpoint: Path | None = _option(path=PATH_ALWAYS)
    config: str | None = _option(path=PATH_IF_EXISTS)
    mode: TransferMode | None = None
    adapt_scale: bool | None = None
    find_best_frame: bool = False
    best_frame: int | None = _option(minimum=0)
    start: str | None = None  # seconds or [H:]MM:SS[.ms], as text
    end: str | None = None
    max_frames: int | None = _option(minimum=1)
    output_size: int | None = _option(minimum=8)
    device: str = "auto"
    precision: Precision = "auto"  # auto, fp32, fp16 or bf16 (the old key "fp16": true/false is its alias)
    batch_size: int | str | None = _option(minimum=1)  # a number, or "auto"
    backend: Backend = "auto"
    threads: int | None = _option(minimum=1)
    compile: bool = False
    size: int | None = _option(minimum=8)
    fps: float | None = _option(minimum=0.001)
    audio: bool | AudioSource = True  # True: the source video's track, else the driving video's; or choose one
    side_by_side: bool = False
    show_keypoints: bool = False
    crop: bool = False
    track: bool = False
    paste_back: bool = False
    normalize: Normalization = "frame"
    smooth: bool = False
    smooth_strength: float | None = _option(minimum=1)  # in frames; implies smooth
    edit: tuple[str, ...] = ()  # DIRECTION=VALUE edits of the source's motion code
    overwrite: bool = False  # replace a non-empty frame-folder output as a whole
    strict: bool = False  # refuse a damaged driving video instead of warning
    max_pixels: int | None = _option(minimum=1)  # refuse larger images/frames from their header
    faces: str | None = _option(check=_check_faces)  # all, largest, N[,M…] or @X,Y: every chosen face of a photo
    driving_face: str | None = _option(check=_check_driving_face)  # which face of the driving input (--crop)
    blend: Blend = "feather"  # how --paste-back / --faces blend faces in
    loop_driving: bool = False  # repeat the driving video until a source video ends
    reference: Path | None = _option(path=PATH_ALWAYS)  # a photo relative motion is measured from

    def model_spec(self) -> ModelSpec:
        if self.model is not None and self.checkpoint is not None:
            raise AnimcliError("give either a model or a checkpoint, not both")
        model = DEFAULT_MODEL if self.model is None and self.checkpoint is None else self.model
        return ModelSpec(model, self.checkpoint, self.config, self.device)

    def smoothing(self) -> Smoothing | None:
        """Temporal smoothing of the driving motion (``smooth_strength`` alone turns it on)."""
        from animcli.inference.smoothing import Smoothing

        return Smoothing.from_options(self.smooth, self.smooth_strength)

    def default_mode(self) -> TransferMode | None:
        """The transfer mode when ``mode`` is not given, where the inputs decide it: a driving photo without a
        ``reference`` has no change to transfer, so it drives in absolute mode (None: the model's default)."""
        from animcli.workflows.driving import is_photo

        return "absolute" if is_photo(self.driving) and self.reference is None else None

    def trim(self) -> Trim | None:
        """The part of the driving video to use (None: all of it); raises on a malformed time."""
        if self.start is None and self.end is None and self.max_frames is None:
            return None
        from animcli.media.trim import Trim, parse_time

        return Trim(start=0.0 if self.start is None else parse_time(self.start, "--start"),
                    end=None if self.end is None else parse_time(self.end, "--end"), max_frames=self.max_frames)


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load (``load_model``'s arguments); equal specs can share one loaded model."""

    model: str | None = None
    checkpoint: Path | None = None
    config: str | None = None
    device: str = "auto"

    def load(self) -> AnimationModel:
        from animcli.weights.loading import load_model

        return load_model(self.checkpoint, self.config, model=self.model, device=self.device)


def legacy_field(name: str, value: Any) -> tuple[str, Any]:
    """A key older manifests used, as the field it stands for: ``"fp16": true/false/null`` is ``"precision":
    "fp16"/"fp32"/"auto"`` (``--fp16/--no-fp16`` became aliases of ``--precision``); other keys unchanged."""
    if name == "fp16" and (value is None or isinstance(value, bool)):
        return "precision", "auto" if value is None else ("fp16" if value else "fp32")
    return name, value


@functools.cache
def request_fields() -> dict[str, tuple[Any, Any]]:
    """Every field of :class:`AnimateRequest` by name, with its resolved type annotation: computed once (resolving
    the annotations is slow, and a batch manifest checks every field of every line against them)."""
    hints = typing.get_type_hints(AnimateRequest)
    return {item.name: (item, hints[item.name]) for item in fields(AnimateRequest)}


def coerce_field(name: str, value: Any) -> Any:
    """``value`` (as parsed from JSON) checked against the field's declared type, choices and lower bound;
    raises ``ValueError`` saying what was expected."""
    declared, annotation = request_fields()[name]
    coerced = _coerce(annotation, value)
    minimum = declared.metadata.get("minimum")
    if minimum is not None and isinstance(coerced, int | float) and coerced < minimum:
        raise ValueError(f"{name} must be at least {minimum:g} (got {value!r})")
    check = declared.metadata.get("check")
    if check is not None and coerced is not None:
        try:
            check(coerced)
        except AnimcliError as exc:
            raise ValueError(str(exc)) from None
    return coerced


def _coerce(annotation: Any, value: Any) -> Any:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        problems = []
        for inner in (argument for argument in arguments if argument is not type(None)):
            try:
                return _coerce(inner, value)
            except ValueError as exc:
                problems.append(str(exc))
        raise ValueError(" or ".join(problems))
    if origin is tuple:  # a JSON list of one type (``tuple[X, ...]``)
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(_coerce(arguments[0], item) for item in value)
    if origin is Literal:
        if value not in arguments:
            raise ValueError(f"expected one of {', '.join(map(repr, arguments))}, got {value!r}")
        return value
    # JSON has one number type for int and float; bool is an int in Python, so it is excluded explicitly.
    accepted = {bool: (bool,), int: (int,), float: (int, float), str: (str,), Path: (str,)}[annotation]
    if not isinstance(value, accepted) or (annotation is not bool and isinstance(value, bool)):
        raise ValueError(f"expected {'a number' if annotation is float else annotation.__name__}, got {value!r}")
    return annotation(value)


class ModelCache:
    """Loaded models by their spec, the ``capacity`` most recently used kept (a worker's models)."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.models: OrderedDict[ModelSpec, AnimationModel] = OrderedDict()
        self.loads = 0

    def get(self, spec: ModelSpec) -> AnimationModel:
        if spec in self.models:
            self.models.move_to_end(spec)
            return self.models[spec]
        model = self.models[spec] = spec.load()
        self.loads += 1
        while len(self.models) > self.capacity:
            self.models.popitem(last=False)
        return model


def run_animation(request: AnimateRequest, *, cache: ModelCache | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None) -> AnimationResult:
    """Carry out ``request`` (the output is written atomically). With ``cache`` the model is taken from (or
    added to) it instead of being loaded for this request alone."""
    from animcli.media.readers import InputLimits

    with InputLimits(request.strict, request.max_pixels).applied():
        return _run_animation(request, cache, on_progress)


def _run_animation(request: AnimateRequest, cache: ModelCache | None,
                   on_progress: Callable[[int, int | None], None] | None) -> AnimationResult:
    from animcli.inference.animator import Animator
    from animcli.inference.batching import parse_batch_size
    from animcli.models.base import TransferOptions
    from animcli.workflows.animate_files import animate_files
    from animcli.workflows.edit import parse_edits
    from animcli.workflows.output import OutputStyle

    spec = request.model_spec()
    model = spec.load() if cache is None else cache.get(spec)
    options = TransferOptions(mode=request.mode or request.default_mode() or model.default_mode,
                              adapt_scale=request.adapt_scale, edits=parse_edits(model, request.edit))
    animator = Animator(model, options, batch_size=parse_batch_size(request.batch_size),
                        precision=request.precision,
                        size=request.size, smoothing=request.smoothing(), backend=request.backend,
                        threads=request.threads, compile=request.compile)
    result = animate_files(animator, request.source, request.driving, request.output, fps=request.fps,
                           audio=request.audio, find_best_frame=request.find_best_frame,
                           best_frame=request.best_frame, trim=request.trim(),
                           style=OutputStyle(side_by_side=request.side_by_side,
                                             show_keypoints=request.show_keypoints, output_size=request.output_size),
                           crop=request.crop, track=request.track, paste_back=request.paste_back,
                           normalize=request.normalize, overwrite=request.overwrite, on_progress=on_progress,
                           faces=request.faces, driving_face=request.driving_face, blend=request.blend,
                           loop_driving=request.loop_driving, reference=request.reference)
    return replace(result, precision_hint=animator.precision_hint())
