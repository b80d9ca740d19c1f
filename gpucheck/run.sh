#!/usr/bin/env bash
# Builds the GPU check harness, compares every CUDA op with the CPU op, times it beside
# PyTorch's composition (when PyTorch is importable) and prints one table.
#
#   gpucheck/run.sh [OUT_DIR]        (default: bench/results/gpucheck-DATE, to be committed)
# Environment: CUDA_ARCH (default 90), GPUCHECK_ARGS (extra harness arguments, e.g. --iters 50).
# Results: OUT_DIR/native.json, torch.json, table.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_out="$here/bench/results/gpucheck-$(date -u +%Y-%m-%d)"
out="$(mkdir -p "${1:-$default_out}" && cd "${1:-$default_out}" && pwd)"
build="${GPUCHECK_BUILD:-$here/build-gpucheck}"
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DVTPRUNE_CUDA=ON -DVTPRUNE_GPUCHECK=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" >"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 1; }
cmake --build "$build" --parallel "$(nproc)" >>"$out/cmake.log" 2>&1 || { tail -50 "$out/cmake.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv >"$out/nvidia-smi.csv" 2>/dev/null || true
status=0
"$build/gpucheck/vtprune_gpucheck" --json "$out/native.json" ${GPUCHECK_ARGS:-} | tee "$out/native.log" || status=$?
torch_json=""
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 "$here/gpucheck/torch_baseline.py" "$out/native.json" "$out/torch.json" | tee "$out/torch.log"
  torch_json="$out/torch.json"
fi
python3 "$here/gpucheck/report.py" "$out/native.json" $torch_json \
  --date "$(date -u +%Y-%m-%d)" --command "gpucheck/run.sh ${*:-}" | tee "$out/table.md"
exit $status
