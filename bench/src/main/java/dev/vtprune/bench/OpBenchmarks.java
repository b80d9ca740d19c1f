package dev.vtprune.bench;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.ClsSaliency;
import dev.vtprune.ops.Reduce;
import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TextRelevance;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Every op, ours (NATIVE) beside the LibTorch composition a user would otherwise write
 * (LIBTORCH), at the LLaVA-1.5 and InternVL2-2B shapes, in the same run: one benchmark over the
 * parameters op x shape x backend. bench/run.sh sets forks, warm-up and iterations.
 */
public class OpBenchmarks extends OpState {

    /** The ops: each a call (timed) and a reading of its result (to compare the backends). */
    public enum Op {
        /** K1 region scoring + budgets. */
        K1RegionBudget((in, b) -> RegionBudget.compute(in.cls(), in.layout, RegionBudget.Params.PAPER, b),
                r -> ((RegionBudget.Result) r).budgets()),
        /** K2 fused normalise + fuse + segmented top-k. */
        K2SegmentedTopK((in, b) -> SegmentedTopK.select(in.bottomUp(), in.instruction(), in.layout, in.budgets(), 0.5, true, b),
                r -> ((SegmentedTopK.Result) r).kept()),
        /** K5 from the CLS attention rows of one ViT layer. */
        K5ClsSaliency((in, b) -> ClsSaliency.fromAttention(in.vitRows(), false, in.shape.merge, Reduce.MEAN, b),
                r -> (Tensor) r),
        /** K5 from q_cls and K (flash form). */
        K5ClsSaliencyQk((in, b) -> ClsSaliency.fromQk(in.vitQCls(), in.vitK(), in.shape.merge, Double.NaN, Reduce.MEAN, b),
                r -> (Tensor) r),
        /** K4 from instruction attention probabilities. */
        K4TextRelevance((in, b) -> TextRelevance.fromAttention(List.of(in.lmAttn()), Reduce.MEAN, Reduce.MAX, b),
                r -> (Tensor) r),
        /** K4 from the LM layer's Q and K (flash form; causal, GQA). */
        K4TextRelevanceQk((in, b) -> TextRelevance.fromQk(in.lmQ(), in.lmK(), in.text, Double.NaN, Reduce.MEAN, Reduce.MAX, b),
                r -> (Tensor) r),
        /** K3 rollout CLS row over 3 layers of attention probabilities. */
        K3Rollout((in, b) -> Rollout.clsRow(in.rolloutLayers(), Rollout.Mode.IVTP, null, b),
                r -> ((Rollout.Result) r).clsRow()),
        /** K3 rollout CLS row over 3 layers from Q/K (flash form). */
        K3RolloutQk((in, b) -> Rollout.clsRowFromQk(in.rolloutQ(), in.rolloutK(), Double.NaN, Rollout.Mode.IVTP, null, b),
                r -> ((Rollout.Result) r).clsRow()),
        /** The whole PTP selection from materialised attention: K1 + K5 + K4 + K2 + gather. */
        PtpSelection((in, b) -> ptp(in, b, PruneInputs.builder(in.layout).tileCls(in.cls()).vitAttention(in.vitRows(), false)
                .patchMerge(in.shape.merge).lmAttention(List.of(in.lmAttn())).build()), r -> ((Selection) r).kept()),
        /** The whole PTP selection from Q/K (flash / SDPA-compatible inputs). */
        PtpSelectionQk((in, b) -> ptp(in, b, PruneInputs.builder(in.layout).tileCls(in.cls()).vitQk(in.vitQCls(), in.vitK(), Double.NaN)
                .patchMerge(in.shape.merge).lmQk(in.lmQ(), in.lmK(), in.text, Double.NaN).build()), r -> ((Selection) r).kept());

        final BiFunction<Inputs, Backend, AutoCloseable> call;
        final Function<AutoCloseable, Tensor> output;

        Op(BiFunction<Inputs, Backend, AutoCloseable> call, Function<AutoCloseable, Tensor> output) {
            this.call = call;
            this.output = output;
        }

        private static Selection ptp(Inputs in, Backend b, PruneInputs inputs) {
            Selection s = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withBackend(b)).select(inputs);
            s.gather(in.visualEmbeds());
            return s;
        }
    }

    @Param
    public Op op;

    @Override
    protected AutoCloseable call(Backend b) {
        return op.call.apply(in, b);
    }

    @Override
    protected double[] read(AutoCloseable result) {
        return Tensors.toDoubles(op.output.apply(result));
    }

    @Override
    protected String name() {
        return op.name();
    }

    @Benchmark
    public void run(Blackhole bh) throws Exception {
        measure(bh);
    }
}
