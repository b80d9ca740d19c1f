package dev.vtprune.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every Java fuzz target in the suite, briefly: its corpus (seeds and the regression inputs of
 * earlier findings) and then 300 mutants from a fixed seed, so a run is reproducible and takes
 * about a second per target. The long runs are .ci/java-fuzz.sh's (60 s a target) and the ones
 * reported under bench/results/java-fuzz-*. A finding fails the test; its input and stack are in
 * target/java-fuzz-findings-junit.
 */
class JavaFuzzTest {
    @TempDir
    Path scratch;

    @Test
    void everyTargetRunsCleanOnItsCorpusAndAFixedSeed() throws IOException {
        StringBuilder found = new StringBuilder();
        for (FuzzTarget t : JavaFuzz.targets(scratch)) {
            FuzzLoop loop = new FuzzLoop(t, FuzzLoop.corpus(JavaFuzz.CORPUS.resolve(t.name())),
                    Path.of("target/java-fuzz-findings-junit"));
            // 300 mutants; the 60 s cap only guards against a pathologically slow machine.
            FuzzLoop.Report r = loop.run(20261203L, 300 + FuzzLoop.corpus(JavaFuzz.CORPUS.resolve(t.name())).size(),
                    60_000_000_000L);
            System.out.println("JavaFuzzTest " + r);
            // Both outcomes are exercised: mutants that still parse and mutants refused cleanly.
            assertTrue(r.accepted > 0 && r.rejected > 0, r.toString());
            for (String f : r.findings) found.append("\n").append(f);
        }
        assertTrue(found.length() == 0, "findings:" + found);
    }
}
