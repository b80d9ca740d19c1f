#!/usr/bin/env bash
# vtprune benchmarks: every op (ours vs the LibTorch composition, same run), peak temporary
# memory, and the end-to-end pipeline. Writes bench/results/{jmh-ops,memory,e2e,summary}.json
# and results.md, and prints the table.
#
#   bench/run.sh quick    # about 5 minutes on 2 cores: 1 fork, short iterations
#   bench/run.sh full     # the committed results: 2 forks, longer warm-up and measurement
#   bench/run.sh soak     # 100,000 selections + 1,000 pipeline requests with the pointer GC off,
#                         # RSS and JavaCPP's bytes sampled into results/soak-DATE/ (SOAK_SELECTIONS,
#                         # SOAK_REQUESTS change the counts; about 15 minutes on 2 idle cores)
set -euo pipefail
mode="${1:-quick}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="${BENCH_OUT:-$here/results}"  # BENCH_OUT: write somewhere else (e.g. to try a change)
mkdir -p "$out"

echo "== building vtprune and the benchmarks" >&2
(cd "$root" && mvn -B -q -ntp -DskipTests install) >&2
(cd "$here" && mvn -B -q -ntp compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt) >&2
# vtprune itself from this checkout's target/classes, not the copy `install` put in ~/.m2: another
# checkout's install can replace that jar (and JavaCPP's cache of its natives, keyed by the jar's
# name) while this run is timing, and the benchmark would silently time another build.
cp="$here/target/classes:$root/target/classes:$(tr ':' '\n' <"$here/target/classpath.txt" | grep -v '/dev/vtprune/vtprune/' | paste -sd:)"
java_opts=(-Dorg.bytedeco.javacpp.maxPhysicalBytes=0)
# as ./vtprune: LibTorch's OpenMP threads wait passively (both backends run under the same setting)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

case "$mode" in quick|full|soak) ;; *) echo "usage: bench/run.sh quick|full|soak" >&2; exit 2 ;; esac
if [ "$mode" = soak ]; then
  # The README's performance tip (pointer GC off: close() alone frees tensors) with a fixed,
  # pre-touched heap, so that heap growth does not show up in the resident memory being watched.
  soak_out="${BENCH_OUT:-$here/results/soak-$(date -u +%Y-%m-%d)}"
  mkdir -p "$soak_out"
  echo "== soak (${SOAK_SELECTIONS:-100000} selections, ${SOAK_REQUESTS:-1000} requests) into $soak_out" >&2
  { echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "java options: ${java_opts[*]} -Dorg.bytedeco.javacpp.nopointergc=true -Xms512m -Xmx512m -XX:+AlwaysPreTouch"
    echo "load at start: $(cat /proc/loadavg)"; } >"$soak_out/machine.txt"
  java "${java_opts[@]}" -Dorg.bytedeco.javacpp.nopointergc=true -Xms512m -Xmx512m -XX:+AlwaysPreTouch -cp "$cp" \
    dev.vtprune.bench.Soak "$soak_out" "${SOAK_SELECTIONS:-100000}" "${SOAK_REQUESTS:-1000}"
  echo "load at end: $(cat /proc/loadavg)" >>"$soak_out/machine.txt"
  exit 0
fi

case "$mode" in
  # Why these numbers: every op call takes microseconds to a second. The warm-up covers the JIT
  # and the first-call allocations (thread pool, caches); the measured iterations give a mean
  # with an error bar (99.9% CI); forks add JVM-to-JVM variation. quick is one fork and short
  # iterations, and runs both rollout ops (K3) against LibTorch at the LLaVA shape only (K3 from
  # Q/K at InternVL ours alone, for its roofline fraction): at InternVL's their
  # composition alone takes seconds and 8 GB a call. full runs everything, longer and twice.
  quick) jmh=(-f 1 -wi 1 -w 1s -i 3 -r 1s); k3_shapes=LLAVA ;;
  full)  jmh=(-f 2 -wi 4 -w 2s -i 6 -r 2s); k3_shapes=LLAVA,INTERNVL ;;
  *) echo "usage: bench/run.sh quick|full" >&2; exit 2 ;;
esac

jmh_run() {  # jmh_run OUT.json REGEX [more JMH arguments]
  local json="$1"; shift
  java "${java_opts[@]}" -cp "$cp" org.openjdk.jmh.Main "$@" "${jmh[@]}" -bm avgt -tu us \
    -jvmArgsAppend "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0" -rf json -rff "$json" >>"$out/jmh-ops.log" 2>&1 \
    || { tail -40 "$out/jmh-ops.log"; exit 1; }
}
echo "== op benchmarks (JMH ${jmh[*]})" >&2
: >"$out/jmh-ops.log"
rm -f "$out"/jmh-*.json
jmh_run "$out/jmh-k1k2k4k5ptp.json" 'OpBenchmarks' \
  -p op=K1RegionBudget,K2SegmentedTopK,K5ClsSaliency,K5ClsSaliencyQk,K4TextRelevance,K4TextRelevanceQk,PtpSelection,PtpSelectionQk
jmh_run "$out/jmh-k3.json" 'OpBenchmarks' -p op=K3Rollout,K3RolloutQk -p shape="$k3_shapes"
if [ "$mode" = quick ]; then
  # K3 from Q/K (what IVTP's ViT stage calls) at InternVL's shape too, ours only, for its roofline
  # fraction (the setup still checks it against the LibTorch composition once)
  jmh_run "$out/jmh-k3-internvl.json" 'OpBenchmarks' -p op=K3RolloutQk -p shape=INTERNVL -p backend=NATIVE
fi
echo "== batched requests (8 and 32 requests pruned as one ragged batch vs a loop vs LibTorch)" >&2
jmh_run "$out/batched.json" 'BatchedRequests'
grep -E "^(Benchmark|OpBenchmarks|BatchedRequests)" "$out/jmh-ops.log" >&2 || true

echo "== peak temporary memory" >&2
MALLOC_MMAP_THRESHOLD_=65536 java "${java_opts[@]}" -Xms1g -Xmx1g -XX:+AlwaysPreTouch -cp "$cp" \
  dev.vtprune.bench.PeakMemory "$out/memory.json" "$mode" >"$out/memory.log" 2>&1 || { tail -20 "$out/memory.log"; exit 1; }

if [ -f "$here/target/classes/dev/vtprune/bench/EndToEnd.class" ]; then
  echo "== end to end" >&2
  java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.EndToEnd "$mode" "$out" >&2
  echo "== requests in flight on one pipeline" >&2
  java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.Throughput "$mode" "$out" >&2
fi

echo "== machine limits (bandwidth, GEMM rate)" >&2
java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.Limits "$out/limits.json" "$mode" >"$out/limits.log" 2>&1 || { tail -20 "$out/limits.log"; exit 1; }

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
java "${java_opts[@]}" -cp "$cp" dev.vtprune.bench.Summary "$out" "$machine" "$(date -u +%Y-%m-%d)" "bench/run.sh $mode"
