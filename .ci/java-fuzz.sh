#!/usr/bin/env bash
# Smoke run of the Java fuzz targets (src/test/java/dev/vtprune/fuzz: the safetensors header
# parser, config.json parsing, PNG/JPEG decoding): each replays its committed corpus
# (src/test/resources/fuzz/NAME: seeds and the regression inputs of earlier findings), then
# mutates for SECONDS. Exits 1 on any finding; inputs and stacks go to target/java-fuzz-findings.
# Usage: .ci/java-fuzz.sh [seconds]   (default 60 per target). FUZZ_SEED (default 1) fixes the
# mutation seed so that a CI run is reproducible; longer exploratory runs use fresh seeds
# (bench/results/java-fuzz-*).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
mkdir -p target
mvn -B -ntp -q test-compile dependency:build-classpath -Dmdep.outputFile=target/java-fuzz-cp.txt \
  -Dmdep.includeScope=test >target/java-fuzz-build.log 2>&1 || { tail -50 target/java-fuzz-build.log; exit 1; }
echo "== java-fuzz: safetensors, config, image for ${seconds} s each (seed ${FUZZ_SEED:-1})"
# Two threads' worth of parallelism at most: the decoders are single-threaded, LibTorch's pool is not needed.
exec java -XX:ActiveProcessorCount=2 -cp "target/test-classes:target/classes:$(cat target/java-fuzz-cp.txt)" \
  dev.vtprune.fuzz.JavaFuzz "$seconds" --seed "${FUZZ_SEED:-1}"
