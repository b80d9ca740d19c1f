package dev.vtprune.bench;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.prune.PyramidTokenPruner;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Requests in flight on one loaded pipeline: the `demo` preset serving a fixed list of requests
 * (images of 1 to 6 tiles cut from the sample image, different prompts) from 1 and 2 client
 * threads (full mode: also 4), unpruned and PTP-pruned (r = 0.5, probe reused). Reports requests
 * per second and the p50 / p99 latency of a request (its whole pipeline, to the first token's
 * logits).
 *
 * <p>Before timing, each request is run once serially, and every concurrent run is checked
 * against that: the same kept tokens and the same next token — a shared pipeline must give
 * every request the answer it would give it alone.
 *
 * <p>Usage: {@code Throughput quick|full OUT_DIR}; writes throughput.json.
 */
public final class Throughput {
    private Throughput() {}

    record Request(BufferedImage image, String prompt) {}

    /** What a request must reproduce under concurrency. */
    record Answer(long[] kept, long next) {
        static Answer of(Result r) {
            long[] kept = r.selection() == null ? new long[0] : Tensors.toLongs(r.selection().kept());
            float[] logits = Tensors.toFloats(r.logits());
            long best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[(int) best]) best = i;
            return new Answer(kept, best);
        }

        boolean same(Answer o) {
            return next == o.next && Arrays.equals(kept, o.kept);
        }
    }

    public static void main(String[] args) throws Exception {
        boolean full = args[0].equals("full");
        Path out = Path.of(args[1]);
        int[] clients = full ? new int[] {1, 2, 4} : new int[] {1, 2};
        int perClient = full ? 6 : 3;
        String[] prompts = {"Where is the red ball?", "What is written on the sign, and in which colour?",
            "Describe the picture.", "How many objects are on the left side of the image, and what shapes are they?"};
        int[][] sizes = {{448, 448}, {896, 448}, {896, 896}, {1344, 448}, {1344, 896}};
        BufferedImage sample = SampleImage.load();
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int[] s = sizes[i % sizes.length];
            requests.add(new Request(EndToEnd.scaled(sample, s[0], s[1]), prompts[i % prompts.length]));
        }
        List<String> rows = new ArrayList<>();
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("demo"), 1, ScalarType.Float)) {
            PromptTemplate template = PromptTemplate.INTERNVL;
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()),
                    template);
            for (boolean pruned : new boolean[] {false, true}) {
                LvlmPipeline.Options options = pruned
                        ? LvlmPipeline.Options.of(new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER)).withReuseProbe(true)
                        : LvlmPipeline.Options.unpruned();
                Answer[] serial = new Answer[requests.size()];
                for (int i = 0; i < requests.size(); i++) {
                    try (Result r = run(p, requests.get(i), options)) {
                        serial[i] = Answer.of(r);
                    }
                }
                for (int c : clients) rows.add(measure(p, requests, options, serial, c, perClient, pruned));
            }
        }
        Files.writeString(out.resolve("throughput.json"), "[\n" + String.join(",\n", rows) + "\n]\n");
    }

    private static Result run(LvlmPipeline p, Request r, LvlmPipeline.Options options) {
        return p.run(List.of(r.image), List.of(r.prompt), options);
    }

    private static String measure(LvlmPipeline p, List<Request> requests, LvlmPipeline.Options options, Answer[] serial,
                                  int clients, int perClient, boolean pruned) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<double[]>> futures = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int c = 0; c < clients; c++) {
                int client = c;
                futures.add(pool.submit(() -> {
                    double[] latency = new double[perClient];
                    for (int k = 0; k < perClient; k++) {
                        int i = (client * perClient + k) % requests.size();
                        long s = System.nanoTime();
                        try (Result r = run(p, requests.get(i), options)) {
                            latency[k] = (System.nanoTime() - s) / 1e6;
                            if (!Answer.of(r).same(serial[i])) {
                                throw new IllegalStateException("request " + i + " with " + clients
                                        + " clients: a different answer than the same request alone");
                            }
                        }
                    }
                    return latency;
                }));
            }
            List<Double> all = new ArrayList<>();
            for (Future<double[]> f : futures) for (double v : f.get()) all.add(v);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double[] sorted = all.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double rps = sorted.length / seconds, p50 = percentile(sorted, 0.50), p99 = percentile(sorted, 0.99);
            System.err.printf(Locale.ROOT, "throughput %-8s clients=%d requests=%d: %.3f req/s, p50 %.0f ms, p99 %.0f ms%n",
                    pruned ? "pruned" : "unpruned", clients, sorted.length, rps, p50, p99);
            return String.format(Locale.ROOT, "  {\"pruned\": %s, \"clients\": %d, \"requests\": %d, \"torch_threads\": %d, "
                    + "\"requests_per_s\": %.4f, \"p50_ms\": %.1f, \"p99_ms\": %.1f}", pruned, clients, sorted.length,
                    torch.get_num_threads(), rps, p50, p99);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Nearest-rank percentile of sorted values. */
    static double percentile(double[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
