#!/bin/bash
# per-call overhead, ABI 1 (ca2e737) vs ABI 2 (views), alternating builds to share the machine's drift
set -e
out=/tmp/abi-jmh; mkdir -p $out
cpfor() { local r=$1; echo "$r/bench/target/classes:$r/target/classes:$(tr ':' '\n' <$r/bench/target/classpath.txt | grep -v '/dev/vtprune/vtprune/' | paste -sd:)"; }
export OMP_WAIT_POLICY=PASSIVE
for round in 1 2; do
  for b in new old; do
    r=$([ $b = new ] && echo /work/main || echo /tmp/oldabi)
    echo "== round $round $b $(cat /proc/loadavg)"
    java -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -cp "$(cpfor $r)" org.openjdk.jmh.Main OpBenchmarks \
      -p op=K1RegionBudget,K2SegmentedTopK,K5ClsSaliency -p backend=NATIVE -f 1 -wi 2 -w 1s -i 5 -r 1s \
      -bm avgt -tu us -rf json -rff $out/$b-$round.json > $out/$b-$round.log 2>&1
    grep -E "^OpBenchmarks" $out/$b-$round.log
  done
done
