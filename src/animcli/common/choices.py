"""The named choices users make, defined once for the library and the CLI (which must not import torch).

Transfer modes — relative: apply the driving video's motion *relative to its first frame* to the source's
own pose; absolute: impose the driving frame's pose as it is; avd: a learned network puts the driving pose on the
source's identity (families with such a network, e.g. TPSMM; each family lists its modes).

Engines — local: worker processes on this machine; ray: actors on a Ray cluster.

Output normalisations — frame: each generated frame is clamped to the valid range on its own (frames
stream); clip: the whole clip is stretched by its global min/max, as the official LIA demo does (the clip
is held in memory). Each family says which it supports (``AnimationModel.normalizations``).

Training tasks — animation: the networks that animate; prediction: Monkey-Net's image-to-video keypoint
predictor for a trained model; avd: TPSMM's AVD network (``--mode avd``) for a trained model. Evaluation tasks —
reconstruction: each test video rebuilt from its first frame and every frame's motion; prediction: each generated
from its first frame alone by the predicted motion.

Backends — what runs the networks: torch, onnxruntime or openvino (exported ONNX graphs), or auto (the fastest
available one for the precision, as measured on this machine by ``animcli bench``, else onnxruntime on CPU in
float32, openvino (else torch) on CPU in bf16, torch on CUDA and for fp16).

Precisions — what the networks compute in: fp32; fp16 or bf16 (convolutions and matrix products in 16 bits, with
sampling grids and keypoint algebra kept in float32); auto: fp16 on CUDA, fp32 on CPU. See docs/precision.md.

Synthetic data kinds (``animcli data synth --kind``) — shapes: one two-colour shape on black; textured: a whole
textured scene that moves and deforms.

Paste-back blends — feather: the animated crop fades into the photo over a soft edge, shifted in colour to agree
with it there; poisson: OpenCV's seamlessClone first solves for the crop's colours so that they meet the photo's
at the crop's edge, then it is feathered in the same way.

Audio sources (``animate --audio``) — source: the source video's track; driving: the driving video's.
"""

from __future__ import annotations

from typing import Literal, get_args

TransferMode = Literal["relative", "absolute", "avd"]
TRANSFER_MODES: tuple[str, ...] = get_args(TransferMode)

Normalization = Literal["frame", "clip"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)

TrainingTask = Literal["animation", "prediction", "avd"]
EvaluationTask = Literal["reconstruction", "prediction"]

Backend = Literal["auto", "torch", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = get_args(Backend)

Precision = Literal["auto", "fp32", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = get_args(Engine)

SynthKind = Literal["shapes", "textured"]
SYNTH_KINDS: tuple[str, ...] = get_args(SynthKind)

Blend = Literal["feather", "poisson"]
BLENDS: tuple[str, ...] = get_args(Blend)

AudioSource = Literal["source", "driving"]
AUDIO_SOURCES: tuple[str, ...] = get_args(AudioSource)
