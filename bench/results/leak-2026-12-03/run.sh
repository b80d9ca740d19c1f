#!/bin/bash
# run.sh MODE N WHICH: one JVM, THREADS (default 1) OpenMP threads. Build first:
#   mvn -o -q dependency:build-classpath -Dmdep.outputFile=bench/results/leak-2026-12-03/classes/cp.txt
#   javac -d bench/results/leak-2026-12-03/classes -cp target/classes:$(cat bench/results/leak-2026-12-03/classes/cp.txt) bench/results/leak-2026-12-03/LeakProbe.java
cd "$(dirname "$0")/../../.."
CP=target/classes:bench/results/leak-2026-12-03/classes:$(cat bench/results/leak-2026-12-03/classes/cp.txt)
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${THREADS:-1}
exec nice -n 10 java -XX:ActiveProcessorCount=${THREADS:-1} -XX:+UseSerialGC -Dorg.bytedeco.javacpp.nopointergc=true -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Xms256m -Xmx256m -XX:+AlwaysPreTouch -cp $CP LeakProbe "$@"
