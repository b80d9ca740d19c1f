package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * What {@link VisionEncoder#forward} returns for T tiles. The probe tensors are exactly the
 * query of the CLS token and the keys that the probed layer's attention used (after the
 * projection and bias, before the 1/sqrt(d) scale), so that
 * {@code ClsSaliency.fromQk(probeQCls, probeK, merge)} gives PTP's token saliency without an
 * attention matrix. All tensors are contiguous and in the model's dtype, and owned: after
 * {@link #close()} (idempotent) the accessors throw {@link IllegalStateException}.
 */
public final class VisionOutput implements AutoCloseable {
    private final Closing closing = new Closing("VisionOutput");
    private final Tensor patches, cls, probeQCls, probeK, keptPatches;
    private final VitPruning.Trace trace;

    /**
     * @param patches   [T, P, hidden] final-layer patch states, CLS removed (what the projector takes);
     *                  [T, n, hidden] with n < P kept patches after group-wise pruning
     * @param cls       [T, hidden] final-layer CLS state (no post-norm: InternVL and LLaVA use none)
     * @param probeQCls [T, heads, headDim] CLS query of the probed layer, null without a probe
     * @param probeK    [T, heads, 1 + P, headDim] keys of the probed layer (CLS first), null without a probe
     * @param keptPatches int64 [T, n] after group-wise pruning ({@link VitPruning}): the original
     *                  patch id of each row of {@code patches} (ascending), null when unpruned
     * @param trace     the pruning points' scores and decisions, null when unpruned
     */
    public VisionOutput(Tensor patches, Tensor cls, Tensor probeQCls, Tensor probeK, Tensor keptPatches, VitPruning.Trace trace) {
        this.patches = patches;
        this.cls = cls;
        this.probeQCls = probeQCls;
        this.probeK = probeK;
        this.keptPatches = keptPatches;
        this.trace = trace;
    }

    /** An unpruned output. */
    public VisionOutput(Tensor patches, Tensor cls, Tensor probeQCls, Tensor probeK) {
        this(patches, cls, probeQCls, probeK, null, null);
    }

    public Tensor patches() {
        closing.check();
        return patches;
    }

    public Tensor cls() {
        closing.check();
        return cls;
    }

    public Tensor probeQCls() {
        closing.check();
        return probeQCls;
    }

    public Tensor probeK() {
        closing.check();
        return probeK;
    }

    public Tensor keptPatches() {
        closing.check();
        return keptPatches;
    }

    public VitPruning.Trace trace() {
        closing.check();
        return trace;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        Tensors.closeAll(patches, cls, probeQCls, probeK, keptPatches);
    }
}
