#!/usr/bin/env bash
# Configures, builds and installs libvtprune with CMake into $1 (default target/native).
# $3 is the version (pom.xml's, passed by Maven). Called by Maven (generate-resources) and
# usable by hand. Environment:
#   VTPRUNE_CUDA=AUTO|ON|OFF   build the CUDA kernels (default AUTO: when nvcc is found)
#   VTPRUNE_JOBS=N             parallel compile jobs (default: number of cores)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/target/native}"
build_type="${2:-Release}"
# $3: the project version (Maven passes ${project.version}); empty: CMake reads pom.xml.
version="${3:-}"
jobs="${VTPRUNE_JOBS:-$(nproc)}"
# nvcc is often installed without being on the PATH.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
mkdir -p "$out"
cmake -S "$here" -B "$out/build" -DCMAKE_BUILD_TYPE="$build_type" \
  -DVTPRUNE_CUDA="${VTPRUNE_CUDA:-AUTO}" -DCMAKE_INSTALL_PREFIX="$out" -DVTPRUNE_VERSION="$version" >"$out/configure.log" 2>&1 \
  || { cat "$out/configure.log"; exit 1; }
grep -E "^-- vtprune" "$out/configure.log" || true
cmake --build "$out/build" --parallel "$jobs"
cmake --install "$out/build" >/dev/null
