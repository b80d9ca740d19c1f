package dev.vtprune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.ops.Backend;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.Result;
import dev.vtprune.prune.ClsTopKPruner;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.RandomPruner;
import dev.vtprune.prune.SpatialPruner;
import dev.vtprune.testing.Concurrency;
import dev.vtprune.testing.Concurrency.Answer;
import dev.vtprune.testing.Images;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

/**
 * What {@link LoadedModel}'s thread-safety claim rests on: 8 threads running mixed requests at
 * once on one loaded model (images of 1 to 4 tiles, four prompts, every method: unpruned, the
 * loaded IVTP with its LM stage, PTP with and without the reused probe, random, FastV, cls-topk,
 * spatial) get bit for bit what each request gets alone; and close() under load lets every
 * request either finish or be refused, never run on freed weights.
 */
class LoadedModelConcurrencyTest {
    record Request(BufferedImage image, String prompt, int method) {}

    static final int METHODS = 8;

    private static LvlmPipeline.Options options(LoadedModel vlm, int method) {
        PyramidTokenPruner ptp = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withRatio(0.5));
        return switch (method) {
            case 0 -> LvlmPipeline.Options.unpruned();
            case 1 -> vlm.options();  // IVTP, keep 2 of 4 per tile, LM stage on 1 of 3 layers
            case 2 -> LvlmPipeline.Options.of(ptp);
            case 3 -> LvlmPipeline.Options.of(ptp).withReuseProbe(true);
            case 4 -> LvlmPipeline.Options.of(new RandomPruner(0.25, 11));
            case 5 -> LvlmPipeline.Options.of(new FastVPruner(0.5, 1, Backend.NATIVE));
            case 6 -> LvlmPipeline.Options.of(new ClsTopKPruner(0.5, PyramidTokenPruner.Config.PAPER.headReduce(), Backend.NATIVE));
            default -> LvlmPipeline.Options.of(new SpatialPruner(0.5));
        };
    }

    private static Answer run(LoadedModel vlm, Request r) {
        try (PointerScope scope = new PointerScope();
             Result res = vlm.run(List.of(r.image), List.of(r.prompt), options(vlm, r.method))) {
            return Answer.of(res);
        }
    }

    private static List<Request> requests() {
        String[] prompts = {"what is this?", "where is the red ball", "count the circles on the left side", "describe it"};
        int[][] sizes = {{56, 56}, {112, 56}, {112, 112}, {56, 112}};
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 3 * METHODS; i++) {
            int[] s = sizes[i % sizes.length];
            requests.add(new Request(Images.ovals(s[0], s[1], 200 + i), prompts[(i / 3) % prompts.length], i % METHODS));
        }
        return requests;
    }

    @Test
    void eightThreadsOnOneLoadedModelGiveTheSerialAnswers() throws Exception {
        List<Request> requests = requests();
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").seed(9).method("ivtp").keep(2).load()) {
            Concurrency.assertSerialAnswers(requests, 8, 2, r -> run(vlm, r),
                    i -> "request " + i + " (method " + requests.get(i).method + ")");
        }
    }

    @Test
    void closeUnderLoadLetsEveryRequestFinishOrBeRefused() throws Exception {
        List<Request> requests = requests();
        LoadedModel vlm = Vtprune.builder().preset("tiny").seed(9).method("ivtp").keep(2).load();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            CountDownLatch running = new CountDownLatch(2);
            List<Future<Integer>> clients = new ArrayList<>();
            for (int c = 0; c < 2; c++) {
                int client = c;
                clients.add(pool.submit(() -> {
                    int done = 0;
                    for (int i = client; ; i = (i + 2) % requests.size()) {
                        try {
                            run(vlm, requests.get(i));
                            done++;
                            if (done == 1) running.countDown();
                        } catch (IllegalStateException e) {
                            assertEquals("LoadedModel is closed", e.getMessage());
                            return done;
                        }
                    }
                }));
            }
            assertTrue(running.await(5, TimeUnit.MINUTES), "both clients finished a request");
            vlm.close();
            for (Future<Integer> f : clients) assertTrue(f.get(5, TimeUnit.MINUTES) >= 1);
        } finally {
            pool.shutdownNow();
            vlm.close();
        }
    }
}
