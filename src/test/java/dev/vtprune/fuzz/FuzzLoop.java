package dev.vtprune.fuzz;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * A seeded mutation loop: no coverage feedback (Jazzer, which would give it, does not resolve
 * from this build's Maven repository), but every input is a mutant of a valid seed or of an earlier mutant that
 * parsed successfully (those are kept, a few hundred at most, so that mutations accumulate
 * past the first checks), and the format-aware mutations of the targets keep most inputs
 * well-formed enough to reach the code behind the syntax checks.
 *
 * <p>Per execution it measures the heap bytes allocated by this thread
 * (com.sun.management.ThreadMXBean) and the wall time; a watchdog thread reports an execution
 * that never returns. Findings are written to {@code findingsDir} as NAME-SHA1.bin (the input)
 * and NAME-SHA1.txt (what went wrong), so that they can be replayed and turned into regression
 * inputs.
 */
public final class FuzzLoop {
    /** Kept mutants that parsed: more make each pick less likely to be a seed. */
    private static final int POOL = 256;

    /** An execution this slow is a finding (the inputs are at most a few KB). */
    static final long SLOW_NANOS = 5_000_000_000L;

    /** What a run found and how fast it went. */
    public static final class Report {
        public final String target;
        public long executions, accepted, rejected;
        public double seconds;
        public long maxNanos, maxAllocated;
        public final Map<String, Integer> rejections = new LinkedHashMap<>();
        public final List<String> findings = new ArrayList<>();

        Report(String target) {
            this.target = target;
        }

        public double perSecond() {
            return executions / Math.max(seconds, 1e-9);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: %d executions in %.1f s (%.0f/s): %d parsed, %d rejected cleanly, "
                    + "%d findings; slowest %.1f ms, most heap allocated by one execution %.1f MB", target, executions,
                    seconds, perSecond(), accepted, rejected, findings.size(), maxNanos / 1e6, maxAllocated / 1e6);
        }
    }

    private final FuzzTarget target;
    private final List<byte[]> corpus;
    private final Path findingsDir;
    private final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private volatile byte[] current;
    private volatile long startedAt;

    public FuzzLoop(FuzzTarget target, List<byte[]> corpus, Path findingsDir) {
        if (corpus.isEmpty()) throw new IllegalArgumentException(target.name() + ": empty seed corpus");
        this.target = target;
        this.corpus = corpus;
        this.findingsDir = findingsDir;
    }

    /** The files of src/test/resources/fuzz/NAME and its subdirectories (seeds and regression inputs), sorted. */
    public static List<byte[]> corpus(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            List<byte[]> out = new ArrayList<>();
            for (Path p : files.filter(Files::isRegularFile).filter(p -> !p.toString().endsWith(".md")).sorted().toList()) {
                out.add(Files.readAllBytes(p));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the corpus " + dir, e);
        }
    }

    /**
     * Runs every corpus input once, then mutants until `maxExecutions` or `nanos` is reached
     * (whichever comes first), from the given seed.
     */
    public Report run(long seed, long maxExecutions, long nanos) {
        Report r = new Report(target.name());
        Thread runner = Thread.currentThread();
        Thread watchdog = new Thread(() -> watch(runner), "fuzz-watchdog-" + target.name());
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            // Unmeasured: the first execution of every input of the corpus loads classes and, for
            // safetensors, LibTorch's native libraries (over 100 MB of heap, seconds), which is the
            // JVM's cost, not the parser's. Its outcomes are checked in the measured pass below.
            for (byte[] in : corpus) {
                try {
                    target.execute(in);
                } catch (Throwable ignored) {
                    // judged below
                }
            }
            long t0 = System.nanoTime();
            for (byte[] in : corpus) one(in, r, null);
            Random rnd = new Random(seed);
            List<byte[]> pool = new ArrayList<>();
            while (r.executions < maxExecutions && System.nanoTime() - t0 < nanos) {
                byte[] base = !pool.isEmpty() && rnd.nextBoolean() ? pool.get(rnd.nextInt(pool.size()))
                        : corpus.get(rnd.nextInt(corpus.size()));
                byte[] in = target.mutate(base, corpus.get(rnd.nextInt(corpus.size())), rnd);
                one(in, r, pool);
                if (pool.size() > POOL) pool.remove(rnd.nextInt(pool.size()));
            }
            r.seconds = (System.nanoTime() - t0) / 1e9;
            return r;
        } finally {
            watchdog.interrupt();
        }
    }

    private void one(byte[] in, Report r, List<byte[]> pool) {
        long before = threads.getCurrentThreadAllocatedBytes();
        current = in;
        startedAt = System.nanoTime();
        Throwable thrown = null;
        try {
            target.execute(in);
        } catch (Throwable t) {
            thrown = t;
        }
        long nanos = System.nanoTime() - startedAt;
        startedAt = 0;
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        r.executions++;
        r.maxNanos = Math.max(r.maxNanos, nanos);
        r.maxAllocated = Math.max(r.maxAllocated, allocated);
        String problem = null;
        if (thrown == null) {
            r.accepted++;
            if (pool != null) pool.add(in);
        } else if (thrown.getClass() == IllegalArgumentException.class) {
            problem = messageProblem(thrown.getMessage());
            r.rejected++;
            r.rejections.merge(category(String.valueOf(thrown.getMessage())), 1, Integer::sum);
        } else {
            problem = thrown instanceof AssertionError ? "invariant broken: " + thrown.getMessage() : "escaped: " + thrown;
        }
        if (problem == null && allocated > target.allocationLimit(in.length)) {
            problem = "allocated " + allocated + " bytes of heap for a " + in.length + "-byte input (limit "
                    + target.allocationLimit(in.length) + ")";
        }
        if (problem == null && nanos > SLOW_NANOS) problem = "took " + nanos / 1e6 + " ms";
        if (problem != null) record(in, problem, thrown, r);
    }

    /** What is wrong with a rejection's message (the CLI prints it as its one-line error), or null. */
    static String messageProblem(String m) {
        if (m == null || m.isBlank()) return "IllegalArgumentException without a message";
        if (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) return "a multi-line message: " + m;
        if (m.length() > 2000) return "a " + m.length() + "-char message: " + m.substring(0, 300) + "...";
        return null;
    }

    /** For targets that catch a rejection themselves: an AssertionError when its message is not a clean one. */
    public static void checkMessage(IllegalArgumentException e) {
        String problem = messageProblem(e.getMessage());
        if (problem != null) throw new AssertionError(problem, e);
    }

    /** "must be valid JSON", "is a truncated PNG file"...: the message's shape without its values. */
    private static String category(String m) {
        String s = m.replaceAll("'[^']*'", "'_'").replaceAll("[0-9]+", "N");
        int comma = s.indexOf(", got");
        return (comma > 0 ? s.substring(0, comma) : s).substring(0, Math.min(120, comma > 0 ? comma : s.length()));
    }

    private void record(byte[] in, String problem, Throwable thrown, Report r) {
        String id = target.name() + "-" + sha1(in);
        StringWriter text = new StringWriter();
        PrintWriter w = new PrintWriter(text);
        w.println(problem);
        if (thrown != null) thrown.printStackTrace(w);
        w.flush();
        r.findings.add(id + ": " + text.toString().lines().limit(12).reduce((a, b) -> a + "\n    " + b).orElse(""));
        if (findingsDir == null) return;
        try {
            Files.createDirectories(findingsDir);
            Files.write(findingsDir.resolve(id + ".bin"), in);
            Files.writeString(findingsDir.resolve(id + ".txt"), text.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the finding " + id, e);
        }
    }

    /** Reports an execution that has not returned after a minute, with its input and stack. */
    private void watch(Thread runner) {
        boolean reported = false;
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            long s = startedAt;
            if (s != 0 && System.nanoTime() - s > 60_000_000_000L && !reported) {
                reported = true;
                Report r = new Report(target.name());
                Throwable where = new Throwable("hang: the execution has run for over 60 s");
                where.setStackTrace(runner.getStackTrace());
                record(current, "hang", where, r);
                System.err.println("FUZZ HANG " + r.findings.get(0));
            }
        }
    }

    static String sha1(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(b)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
