package dev.vtprune.bench;

import dev.vtprune.ops.Backend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;

/**
 * Peak temporary memory of every op, ours and the composition: the rise of the process's
 * resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs) over one call.
 *
 * <p>Run it in its own JVM with {@code MALLOC_MMAP_THRESHOLD_=65536} (bench/run.sh does): glibc
 * then serves every block of 64 KiB or more from a fresh mapping and returns it at free, so a
 * temporary buffer shows in the RSS while it lives and leaves no cached heap behind; and with
 * a pre-touched, fixed-size Java heap (-Xms = -Xmx, -XX:+AlwaysPreTouch) the JVM adds nothing.
 * Blocks under 64 KiB may be reused from the heap and go uncounted, so figures are exact to
 * about that much.
 *
 * <p>Usage: {@code PeakMemory OUT.json [quick]}; quick skips the rollout ops at the InternVL shape
 * (their composition alone takes gigabytes and seconds).
 */
public final class PeakMemory {
    private PeakMemory() {}

    static long statusKb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalStateException(field + " not in /proc/self/status");
    }

    static void resetHighWaterMark() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reset the RSS high-water mark (Linux >= 4.0 needed)", e);
        }
    }

    /** Bytes by which one call of the state's op raises the peak RSS. */
    static long peakBytes(OpState st) throws Exception {
        try (PointerScope s = new PointerScope(); AutoCloseable r = st.call(st.backend)) {
            // warm: first-call allocations (thread pool, caches) are not the op's temporaries
        }
        System.gc();
        resetHighWaterMark();
        long before = statusKb("VmRSS");
        try (PointerScope s = new PointerScope(); AutoCloseable r = st.call(st.backend)) {
            // the result is alive here, so it is counted: it is part of what a call costs
        }
        return Math.max(0, statusKb("VmHWM") - before) * 1024;
    }

    public static void main(String[] args) throws Exception {
        boolean quick = args.length > 1 && args[1].equals("quick");
        List<String> rows = new ArrayList<>();
        for (OpBenchmarks.Op op : OpBenchmarks.Op.values()) {
            for (Shape shape : Shape.values()) {
                for (Backend backend : Backend.values()) {
                    if (quick && shape == Shape.INTERNVL && op.name().startsWith("K3")) continue;
                    OpBenchmarks st = new OpBenchmarks();
                    st.op = op;
                    st.shape = shape;
                    st.backend = backend;
                    st.setUp();
                    long bytes = peakBytes(st);
                    st.tearDown();
                    String name = op.name();
                    System.out.printf(Locale.ROOT, "%-20s %-9s %-9s %,14d bytes%n", name, shape, backend, bytes);
                    rows.add(String.format(Locale.ROOT, "  {\"name\": \"%s\", \"shape\": \"%s\", \"backend\": \"%s\", \"peak_bytes\": %d}",
                            name, shape, backend, bytes));
                }
            }
        }
        Files.writeString(Path.of(args[0]), "[\n" + String.join(",\n", rows) + "\n]\n");
    }
}
