package dev.vtprune.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The Java fuzz targets from the command line ({@code .ci/java-fuzz.sh SECONDS} runs this):
 * {@code JavaFuzz SECONDS [--seed N] [safetensors|config|image ...]} fuzzes each named target
 * (all three by default) for SECONDS, after replaying its corpus (seeds and regression inputs
 * under src/test/resources/fuzz/NAME), prints executions per second and the outcome counts, and
 * exits 1 when any target found something (inputs and stacks in target/java-fuzz-findings).
 * {@code JavaFuzz --write-seeds} regenerates the safetensors and image seed files.
 */
public final class JavaFuzz {
    private JavaFuzz() {}

    static final Path CORPUS = Path.of("src/test/resources/fuzz");

    static List<FuzzTarget> targets(Path scratch) throws IOException {
        return List.of(new SafetensorsTarget(scratch), new ConfigTarget(scratch), new ImageTarget(scratch));
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--write-seeds")) {
            SafetensorsTarget.writeSeeds(CORPUS.resolve("safetensors/seeds"));
            ImageTarget.writeSeeds(CORPUS.resolve("image/seeds"));
            return;
        }
        if (args.length == 0) {
            System.err.println("usage: JavaFuzz SECONDS [--seed N] [safetensors|config|image ...] | --write-seeds");
            System.exit(2);
        }
        double seconds = Double.parseDouble(args[0]);
        long seed = System.nanoTime();
        List<String> names = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--seed")) seed = Long.parseLong(args[++i]);
            else names.add(args[i]);
        }
        Path scratch = Files.createTempDirectory("vtprune-fuzz");
        Path findings = Path.of("target/java-fuzz-findings");
        int found = 0;
        for (FuzzTarget t : targets(scratch)) {
            if (!names.isEmpty() && !names.contains(t.name())) continue;
            FuzzLoop loop = new FuzzLoop(t, FuzzLoop.corpus(CORPUS.resolve(t.name())), findings);
            FuzzLoop.Report r = loop.run(seed, Long.MAX_VALUE, (long) (seconds * 1e9));
            System.out.println("java-fuzz " + r + " (seed " + seed + ")");
            r.rejections.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue()).limit(8)
                    .forEach(e -> System.out.println("    " + e.getValue() + " x " + e.getKey()));
            for (String f : r.findings.subList(0, Math.min(5, r.findings.size()))) System.out.println("  FINDING " + f);
            found += r.findings.size();
        }
        if (found > 0) {
            System.out.println("java-fuzz: " + found + " findings, inputs in " + findings.toAbsolutePath());
            System.exit(1);
        }
    }
}
