package dev.vtprune.bench;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.ClsSaliency;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TextRelevance;
import dev.vtprune.ops.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Every op, ours (NATIVE) beside the LibTorch composition a user would otherwise write
 * (LIBTORCH), at the LLaVA-1.5 and InternVL2-2B shapes, in the same run. One nested class per
 * op; bench/run.sh sets forks, warm-up and iterations.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class OpBenchmarks {

    static double[] doubles(Tensor t) {
        return Tensors.toDoubles(t);
    }

    /** K1 region scoring + budgets. */
    public static class K1RegionBudget extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return RegionBudget.compute(in.cls(), in.layout, RegionBudget.Params.PAPER, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((RegionBudget.Result) r).budgets());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K2 fused normalise + fuse + segmented top-k. */
    public static class K2SegmentedTopK extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return SegmentedTopK.select(in.bottomUp(), in.instruction(), in.layout, in.budgets(), 0.5, true, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((SegmentedTopK.Result) r).kept());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K5 from the CLS attention rows of one ViT layer. */
    public static class K5ClsSaliency extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return ClsSaliency.fromAttention(in.vitRows(), false, in.shape.merge, Reduce.MEAN, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles((Tensor) r);
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K5 from q_cls and K (flash form). */
    public static class K5ClsSaliencyQk extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return ClsSaliency.fromQk(in.vitQCls(), in.vitK(), in.shape.merge, Double.NaN, Reduce.MEAN, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles((Tensor) r);
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K4 from instruction attention probabilities. */
    public static class K4TextRelevance extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return TextRelevance.fromAttention(List.of(in.lmAttn()), Reduce.MEAN, Reduce.MAX, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles((Tensor) r);
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K4 from the LM layer's Q and K (flash form; causal, GQA). */
    public static class K4TextRelevanceQk extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return TextRelevance.fromQk(in.lmQ(), in.lmK(), in.text, Double.NaN, Reduce.MEAN, Reduce.MAX, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles((Tensor) r);
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K3 rollout CLS row over 3 layers of attention probabilities. */
    public static class K3Rollout extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return Rollout.clsRow(in.rolloutLayers(), Rollout.Mode.IVTP, null, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((Rollout.Result) r).clsRow());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** K3 rollout CLS row over 3 layers from Q/K (flash form). */
    public static class K3RolloutQk extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            return Rollout.clsRowFromQk(in.rolloutQ(), in.rolloutK(), Double.NaN, Rollout.Mode.IVTP, null, b);
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((Rollout.Result) r).clsRow());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** The whole PTP selection from materialised attention: K1 + K5 + K4 + K2 + gather. */
    public static class PtpSelection extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            PruneInputs inputs = PruneInputs.builder(in.layout).tileCls(in.cls()).vitAttention(in.vitRows(), false)
                    .patchMerge(in.shape.merge).lmAttention(List.of(in.lmAttn())).build();
            Selection s = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withBackend(b)).select(inputs);
            s.gather(in.visualEmbeds());
            return s;
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((Selection) r).kept());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }

    /** The whole PTP selection from Q/K (flash / SDPA-compatible inputs). */
    public static class PtpSelectionQk extends OpState {
        @Override
        protected AutoCloseable call(Backend b) {
            PruneInputs inputs = PruneInputs.builder(in.layout).tileCls(in.cls()).vitQk(in.vitQCls(), in.vitK(), Double.NaN)
                    .patchMerge(in.shape.merge).lmQk(in.lmQ(), in.lmK(), in.text, Double.NaN).build();
            Selection s = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withBackend(b)).select(inputs);
            s.gather(in.visualEmbeds());
            return s;
        }

        @Override
        protected double[] read(AutoCloseable r) {
            return doubles(((Selection) r).kept());
        }

        @Benchmark
        public void run(Blackhole bh) throws Exception {
            measure(bh);
        }
    }
}
