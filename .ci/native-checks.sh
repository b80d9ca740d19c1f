#!/usr/bin/env bash
# The native checks of CI (issue 13), CPU-only builds (VTPRUNE_CUDA=OFF) under target/ci-native:
#   release    the C ABI tests (ctest: abi, pool_resize) on the Release build
#   asan       the same tests with AddressSanitizer + UndefinedBehaviorSanitizer (every report fatal)
#   tsan       the pool-resize driver with ThreadSanitizer
# Usage: .ci/native-checks.sh [release|asan|tsan]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/ci-native
jobs="${VTPRUNE_JOBS:-$(nproc)}"

# build NAME TARGET CMAKE-ARGS...
build() {
  local name=$1 target=$2
  shift 2
  cmake -S . -B "$out/$name" -DVTPRUNE_CUDA=OFF -DVTPRUNE_TESTS=ON "$@" >"$out/$name.configure.log" 2>&1 \
    || { cat "$out/$name.configure.log"; exit 1; }
  cmake --build "$out/$name" --parallel "$jobs" --target "$target" >"$out/$name.build.log" 2>&1 \
    || { tail -50 "$out/$name.build.log"; exit 1; }
}

run() {
  local name=$1
  shift
  echo "== native checks: $name"
  ctest --test-dir "$out/$name" --output-on-failure "$@"
}

mkdir -p "$out"
for config in "${@:-release asan tsan}"; do
  for c in $config; do
    case "$c" in
      release)
        build release all -DCMAKE_BUILD_TYPE=Release
        run release ;;
      asan)
        build asan all -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVTPRUNE_SANITIZE=address,undefined,float-cast-overflow \
          -DVTPRUNE_POOL_ITERATIONS=5000
        ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run asan ;;
      tsan)
        build tsan vtprune_pool_test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVTPRUNE_SANITIZE=thread -DVTPRUNE_POOL_ITERATIONS=3000
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run tsan -R pool_resize ;;
      *) echo "unknown configuration '$c' (release, asan or tsan)" >&2; exit 2 ;;
    esac
  done
done
