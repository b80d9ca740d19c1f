package dev.vtprune.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.Result;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** Requests run at once on one shared object must each get what they get alone. */
public final class Concurrency {
    private Concurrency() {}

    /** What a pipeline request must reproduce: kept indices (empty unpruned) and the last logits, bit for bit. */
    public record Answer(long[] kept, float[] logits) {
        public static Answer of(Result r) {
            long[] kept = r.selection() == null ? new long[0] : r.selection().keptIndices();
            return new Answer(kept, Tensors.toFloats(r.logits()));
        }

        void assertSame(Answer got, String what) {
            assertArrayEquals(kept, got.kept, what + ": kept tokens");
            assertArrayEquals(logits, got.logits, what + ": last logits");
        }
    }

    /**
     * Runs every request alone, in order; then `rounds` times every request from a pool of
     * `threads` threads, all released at once so that they really overlap; each concurrent
     * answer must equal its serial one.
     *
     * @param name what a failure calls request i
     */
    public static <R> void assertSerialAnswers(List<R> requests, int threads, int rounds, Function<R, Answer> run,
                                               java.util.function.IntFunction<String> name) throws Exception {
        List<Answer> serial = new ArrayList<>();
        for (R r : requests) serial.add(run.apply(r));
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Answer>> futures = new ArrayList<>();
            for (int round = 0; round < rounds; round++) {
                for (R r : requests) {
                    futures.add(pool.submit(() -> {
                        start.await();
                        return run.apply(r);
                    }));
                }
            }
            start.countDown();
            for (int i = 0; i < futures.size(); i++) {
                int at = i % requests.size();
                serial.get(at).assertSame(futures.get(i).get(5, TimeUnit.MINUTES), name.apply(at));
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
