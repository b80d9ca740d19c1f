#!/usr/bin/env bash
# Line, region and branch coverage of the native code reached by the C ABI fuzz harness.
# Builds the library and the harness with clang-14 source-based coverage (and ASan, whose runtime
# the library's libFuzzer hooks need when it is a shared object) under
# target/fuzz-coverage, grows a corpus from the committed seeds for N seconds of fuzzing, replays
# that corpus once and prints llvm-cov's per-file report for src/main/cpp.
# Usage: .ci/fuzz-coverage.sh [seconds] [report-dir]   (defaults: 120, target/fuzz-coverage)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
out="$(mkdir -p "${2:-target/fuzz-coverage}" && cd "${2:-target/fuzz-coverage}" && pwd)"
for tool in clang++-14 llvm-profdata-14 llvm-cov-14; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fuzz-coverage: $tool not found (apt-get install -y clang-14 libclang-rt-14-dev llvm-14)" >&2; exit 1; }
done
build="$out/build"
flags="-fprofile-instr-generate -fcoverage-mapping"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVTPRUNE_CUDA=OFF \
  -DVTPRUNE_FUZZ=ON -DVTPRUNE_SANITIZE=address -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$out/configure.log" 2>&1 || { cat "$out/configure.log"; exit 1; }
cmake --build "$build" --parallel "${VTPRUNE_JOBS:-$(nproc)}" --target vtprune_abi_fuzz >"$out/build.log" 2>&1 \
  || { tail -50 "$out/build.log"; exit 1; }
fuzzer="$build/src/test/fuzz/vtprune_abi_fuzz"
lib="$(dirname "$(find "$build" -name 'libvtprune.so' | head -1)")/libvtprune.so"
rm -rf "$out/corpus" "$out"/*.profraw && mkdir -p "$out/corpus"
# 1. grow a corpus (profiles of this phase are discarded)
LLVM_PROFILE_FILE="$out/grow-%p.profraw" "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
  "$out/corpus" src/test/fuzz/corpus/abi 2>"$out/grow.log" || { tail -40 "$out/grow.log"; exit 1; }
rm -f "$out"/grow-*.profraw
# 2. replay seeds + grown corpus once, with coverage
LLVM_PROFILE_FILE="$out/replay.profraw" "$fuzzer" -runs=0 "$out/corpus" src/test/fuzz/corpus/abi 2>"$out/replay.log"
llvm-profdata-14 merge -sparse "$out/replay.profraw" -o "$out/abi.profdata"
inputs="$(find "$out/corpus" src/test/fuzz/corpus/abi -type f | wc -l)"
{
  echo "C ABI fuzz coverage: $(date -u +%Y-%m-%d), $(git rev-parse --short HEAD), ${seconds} s of growth, $inputs inputs replayed"
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$out/grow.log" || true
  llvm-cov-14 report "$fuzzer" -object "$lib" -instr-profile="$out/abi.profdata" \
    -show-region-summary=true -show-branch-summary=true "$PWD/src/main/cpp"
} | tee "$out/report.txt"
