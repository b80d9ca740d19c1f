#!/usr/bin/env bash
# Smoke run of the C ABI libFuzzer harness (src/test/fuzz): clang-14 with ASan + UBSan, CPU-only,
# under target/ci-fuzz, starting from the committed seeds (new inputs go to target/ci-fuzz/corpus,
# never into the repository). Skipped with a note when clang-14 is not installed
# (apt-get install -y clang-14 libclang-rt-14-dev).
# Usage: .ci/fuzz.sh [seconds]   (default 60). FUZZ_SEED (default 1) fixes libFuzzer's seed so that
# a CI run is reproducible: exploration with fresh seeds is the long run's job (bench/results/fuzz-long-*).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=target/ci-fuzz
if ! command -v clang++-14 >/dev/null 2>&1; then
  echo "fuzz: clang++-14 not found, skipping the libFuzzer smoke run"
  exit 0
fi
mkdir -p "$out/corpus"
cmake -S . -B "$out/build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVTPRUNE_CUDA=OFF \
  -DVTPRUNE_FUZZ=ON -DVTPRUNE_SANITIZE=address,undefined >"$out/configure.log" 2>&1 || { cat "$out/configure.log"; exit 1; }
cmake --build "$out/build" --parallel "${VTPRUNE_JOBS:-$(nproc)}" --target vtprune_abi_fuzz >"$out/build.log" 2>&1 \
  || { tail -50 "$out/build.log"; exit 1; }
echo "== fuzz: vtprune_abi_fuzz for ${seconds} s"
cd "$out"
ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build/src/test/fuzz/vtprune_abi_fuzz -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -print_final_stats=1 \
  corpus ../../src/test/fuzz/corpus/abi 2>fuzz.log || { tail -60 fuzz.log; exit 1; }
grep -E "stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" fuzz.log
