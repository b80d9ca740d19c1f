#!/usr/bin/env bash
# vtprune benchmarks: every op (ours vs the LibTorch composition, same run), peak temporary
# memory, and the end-to-end pipeline. Writes bench/results/{jmh-ops,memory,e2e,summary}.json
# and results.md, and prints the table.
#
#   bench/run.sh quick    # about 5 minutes on 2 cores: 1 fork, short iterations
#   bench/run.sh full     # the committed results: 2 forks, longer warm-up and measurement
set -euo pipefail
mode="${1:-quick}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/results"
mkdir -p "$out"

echo "== building vtprune and the benchmarks" >&2
(cd "$root" && mvn -B -q -ntp -DskipTests install) >&2
(cd "$here" && mvn -B -q -ntp compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt) >&2
cp="$here/target/classes:$(cat "$here/target/classpath.txt")"
java_opts=(-Dorg.bytedeco.javacpp.maxPhysicalBytes=0)

case "$mode" in
  # Why these numbers: every op call is microseconds to a second; a 1 s warm-up covers the JIT
  # and the first-call allocations (thread pool, caches), and 3 x 1 s of measurement gives
  # a mean with an error bar. full doubles the forks (JVM-to-JVM variation) and the time.
  quick) jmh=(-f 1 -wi 2 -w 1s -i 3 -r 1s) ;;
  full)  jmh=(-f 2 -wi 4 -w 2s -i 6 -r 2s) ;;
  *) echo "usage: bench/run.sh quick|full" >&2; exit 2 ;;
esac

echo "== op benchmarks (JMH ${jmh[*]})" >&2
java "${java_opts[@]}" -cp "$cp" org.openjdk.jmh.Main 'OpBenchmarks' "${jmh[@]}" -bm avgt -tu us \
  -jvmArgsAppend "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0" -rf json -rff "$out/jmh-ops.json" >"$out/jmh-ops.log" 2>&1 \
  || { tail -40 "$out/jmh-ops.log"; exit 1; }
grep -E "^(Benchmark|OpBenchmarks)" "$out/jmh-ops.log" >&2 || true

echo "== peak temporary memory" >&2
MALLOC_MMAP_THRESHOLD_=65536 java "${java_opts[@]}" -Xms1g -Xmx1g -XX:+AlwaysPreTouch -cp "$cp" \
  dev.vtprune.bench.PeakMemory "$out/memory.json" >"$out/memory.log" 2>&1 || { tail -20 "$out/memory.log"; exit 1; }

if [ -f "$here/target/classes/dev/vtprune/bench/EndToEnd.class" ]; then
  echo "== end to end" >&2
  java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.EndToEnd "$mode" "$out" >&2
fi

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.Summary "$out" "$machine" "$(date -u +%Y-%m-%d)" "bench/run.sh $mode"
