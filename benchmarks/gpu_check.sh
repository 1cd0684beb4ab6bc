#!/usr/bin/env bash
# One call on a CUDA machine: fps at fp32, fp16 and bf16 (Ampere and later; refused in one line on older GPUs) for
# FOMM vox-256, LIA-256 and Monkey-Net vox, eager and with --compile, plus each one's max/mean difference from fp32. Uses $PYTHON (default: .venv/bin/python if present,
# else python3) with this checkout's sources first on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true
"$PYTHON" benchmarks/gpu_check.py --frames "${FRAMES:-256}" --batch-size "${BATCH_SIZE:-auto}"
"$PYTHON" benchmarks/gpu_check.py --frames "${FRAMES:-256}" --batch-size "${BATCH_SIZE:-auto}" --compile \
    --configs fomm-vox-256
