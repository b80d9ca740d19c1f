package dev.vtprune.bench;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.ops.NativeLibrary;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The soak: many selections, then many pipeline requests, in one JVM, written the way the README
 * tells a service to (close the Selection, the gathered tensor and the Result; no PointerScope),
 * sampling the process's resident memory ({@code VmRSS} of /proc/self/status) and JavaCPP's
 * {@code Pointer.totalBytes()} as it goes. Meant to run with
 * {@code -Dorg.bytedeco.javacpp.nopointergc=true} (the README's performance tip), where close()
 * is the only thing that frees a tensor: a leak then shows as RSS growing with the call count.
 *
 * <ul>
 *   <li>selections: PTP at the LLaVA-1.5 shape (1 tile, 576 tokens), 9 of 10 from materialised
 *       attention and 1 of 10 from Q/K (the README's form, 20x slower), each followed by
 *       keptIndices() and gather();</li>
 *   <li>requests: the {@code demo} preset on a 448 x 448 image (1 tile, 256 visual tokens),
 *       alternating unpruned and PTP r = 0.5 with the probe reused.</li>
 * </ul>
 *
 * <p>{@code Pointer.totalBytes()} counts only the memory JavaCPP allocates itself (it does not
 * see LibTorch's allocations, and with the pointer GC off it stops tracking), so RSS is the figure
 * that decides; both are recorded. The slope is a least-squares fit of RSS against the call count
 * over the samples after the first tenth of each phase (allocator caches and the JIT settle there).
 *
 * <p>Usage: {@code Soak OUT_DIR SELECTIONS REQUESTS}; writes soak.csv (flushed at every sample)
 * and soak-summary.json. {@code Soak --summarize OUT_DIR} writes the summary of the soak.csv a
 * run cut short left behind.
 */
public final class Soak {
    private Soak() {}

    private static final int SAMPLES_PER_PHASE = 100;

    record Sample(String phase, long calls, double seconds, long rssKb, long pointerBytes, long heapUsed) {
        String csv() {
            return String.format(Locale.ROOT, "%s,%d,%.2f,%d,%d,%d", phase, calls, seconds, rssKb, pointerBytes, heapUsed);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("--summarize")) {
            Path dir = Path.of(args[1]);
            List<Sample> samples = new ArrayList<>();
            for (String line : Files.readAllLines(dir.resolve("soak.csv"))) {
                if (line.startsWith("phase,")) continue;
                String[] f = line.split(",");
                samples.add(new Sample(f[0], Long.parseLong(f[1]), Double.parseDouble(f[2]), Long.parseLong(f[3]),
                        Long.parseLong(f[4]), Long.parseLong(f[5])));
            }
            String summary = summary(samples, "\"not recorded in the CSV (bench/run.sh soak sets it)\"", -1, -1);
            Files.writeString(dir.resolve("soak-summary.json"), summary);
            System.out.print(summary);
            return;
        }
        Path out = Path.of(args[0]);
        int selections = Integer.parseInt(args[1]), requests = Integer.parseInt(args[2]);
        Files.createDirectories(out);
        NativeLibrary.load();
        boolean noGc = Boolean.getBoolean("org.bytedeco.javacpp.nopointergc");
        List<Sample> samples = new ArrayList<>();
        try (PrintWriter csv = new PrintWriter(Files.newBufferedWriter(out.resolve("soak.csv")))) {
            csv.println("phase,calls,seconds,rss_kb,pointer_total_bytes,heap_used_bytes");
            Sink sink = s -> {
                samples.add(s);
                csv.println(s.csv());
                csv.flush();  // a run cut short still leaves its figures
                if (samples.size() % 10 == 1) {
                    System.err.printf(Locale.ROOT, "soak %s %d calls, %.0f s: RSS %.1f MB%n", s.phase, s.calls, s.seconds,
                            s.rssKb / 1024.0);
                }
            };
            selections(selections, sink);
            requests(requests, sink);
        }
        String summary = summary(samples, String.valueOf(noGc), selections, requests);
        Files.writeString(out.resolve("soak-summary.json"), summary);
        System.out.print(summary);
    }

    interface Sink {
        void accept(Sample s);
    }

    private static long every(int calls) {
        return Math.max(1, calls / SAMPLES_PER_PHASE);
    }

    private static Sample sample(String phase, long calls, long t0) {
        Runtime rt = Runtime.getRuntime();
        return new Sample(phase, calls, (System.nanoTime() - t0) / 1e9, rssKb(), Pointer.totalBytes(),
                rt.totalMemory() - rt.freeMemory());
    }

    /** VmRSS of /proc/self/status in kB (the kernel's own figure; Pointer.physicalBytes() reads the same). */
    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/status", e);
        }
        throw new IllegalStateException("no VmRSS line in /proc/self/status");
    }

    private static void selections(int calls, Sink sink) {
        long every = every(calls);
        try (Inputs in = new Inputs(Shape.LLAVA, 42)) {
            PyramidTokenPruner pruner = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER);
            PruneInputs fromProbs = PruneInputs.builder(in.layout).tileCls(in.cls()).vitAttention(in.vitRows(), false)
                    .patchMerge(in.shape.merge).lmAttention(List.of(in.lmAttn())).build();
            PruneInputs fromQk = PruneInputs.builder(in.layout).tileCls(in.cls()).vitQk(in.vitQCls(), in.vitK(), Double.NaN)
                    .patchMerge(in.shape.merge).lmQk(in.lmQ(), in.lmK(), in.text, Double.NaN).build();
            Tensor visual = in.visualEmbeds();
            long expected = -1;
            long t0 = System.nanoTime();
            sink.accept(sample("select", 0, t0));
            for (int i = 1; i <= calls; i++) {
                try (Selection s = pruner.select(i % 10 == 0 ? fromQk : fromProbs); Tensor kept = s.gather(visual)) {
                    long n = s.keptIndices().length;
                    if (n != kept.size(0) || (i % 10 != 0 && expected >= 0 && n != expected)) {
                        throw new IllegalStateException("selection " + i + ": kept " + n + " tokens, gathered "
                                + kept.size(0) + ", earlier calls kept " + expected);
                    }
                    if (i % 10 != 0) expected = n;
                }
                if (i % every == 0) sink.accept(sample("select", i, t0));
            }
        }
    }

    private static void requests(int calls, Sink sink) {
        long every = every(calls);
        BufferedImage image = EndToEnd.scaled(SampleImage.load(), 448, 448);
        List<BufferedImage> images = List.of(image);
        List<String> prompt = List.of("Where is the red ball, and what is written on the sign?");
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("demo"), 1, ScalarType.Float)) {
            PromptTemplate template = PromptTemplate.INTERNVL;
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()),
                    template);
            LvlmPipeline.Options unpruned = LvlmPipeline.Options.unpruned();
            LvlmPipeline.Options pruned = LvlmPipeline.Options.of(new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER))
                    .withReuseProbe(true);
            long t0 = System.nanoTime();
            sink.accept(sample("request", 0, t0));
            for (int i = 1; i <= calls; i++) {
                try (Result r = p.run(images, prompt, i % 2 == 0 ? pruned : unpruned)) {
                    if (r.logits().numel() != model.config().language().vocab()) {
                        throw new IllegalStateException("request " + i + ": " + r.logits().numel() + " logits");
                    }
                }
                if (i % every == 0) sink.accept(sample("request", i, t0));
            }
        }
    }

    private static String summary(List<Sample> all, String noGc, int selections, int requests) {
        StringBuilder s = new StringBuilder("{\n");
        // -1: summarised from a CSV (the counts asked for are not in it; each phase gives those done)
        s.append(String.format(Locale.ROOT, "  \"nopointergc\": %s,%n  \"selections_asked\": %d,%n  \"requests_asked\": %d,%n",
                noGc, selections, requests));
        List<String> phases = new ArrayList<>();
        for (String phase : List.of("select", "request")) {
            List<Sample> p = all.stream().filter(x -> x.phase.equals(phase)).toList();
            if (p.isEmpty()) continue;
            long total = p.get(p.size() - 1).calls;
            List<Sample> settled = p.stream().filter(x -> x.calls >= total / 10).toList();
            long max = p.stream().mapToLong(Sample::rssKb).max().orElseThrow();
            phases.add(String.format(Locale.ROOT, "    \"%s\": {\"calls\": %d, \"seconds\": %.1f, \"calls_per_s\": %.1f, "
                    + "\"rss_start_mb\": %.1f, \"rss_after_first_tenth_mb\": %.1f, \"rss_end_mb\": %.1f, \"rss_max_mb\": %.1f, "
                    + "\"rss_slope_kb_per_1000_calls\": %.1f, \"pointer_total_bytes_start\": %d, \"pointer_total_bytes_end\": %d}",
                    phase, total, p.get(p.size() - 1).seconds, total / p.get(p.size() - 1).seconds, p.get(0).rssKb / 1024.0,
                    settled.get(0).rssKb / 1024.0, p.get(p.size() - 1).rssKb / 1024.0, max / 1024.0,
                    1000 * slope(settled), p.get(0).pointerBytes, p.get(p.size() - 1).pointerBytes));
        }
        s.append("  \"phases\": {\n").append(String.join(",\n", phases)).append("\n  }\n}\n");
        return s.toString();
    }

    /** Least-squares slope of RSS (kB) against calls. */
    static double slope(List<Sample> p) {
        double n = p.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (Sample x : p) {
            sx += x.calls;
            sy += x.rssKb;
            sxx += (double) x.calls * x.calls;
            sxy += (double) x.calls * x.rssKb;
        }
        double d = n * sxx - sx * sx;
        return d == 0 ? Double.NaN : (n * sxy - sx * sy) / d;
    }
}
