package dev.vtprune.model;

import dev.vtprune.ops.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * What {@link VisionEncoder#forward} returns for T tiles. The probe tensors are exactly the
 * query of the CLS token and the keys that the probed layer's attention used (after the
 * projection and bias, before the 1/sqrt(d) scale), so that
 * {@code ClsSaliency.fromQk(probeQCls, probeK, merge)} gives PTP's token saliency without an
 * attention matrix. All tensors are contiguous and in the model's dtype.
 *
 * @param patches   [T, P, hidden] final-layer patch states, CLS removed (what the projector takes)
 * @param cls       [T, hidden] final-layer CLS state (no post-norm: InternVL and LLaVA use none)
 * @param probeQCls [T, heads, headDim] CLS query of the probed layer, null without a probe
 * @param probeK    [T, heads, 1 + P, headDim] keys of the probed layer (CLS first), null without a probe
 */
public record VisionOutput(Tensor patches, Tensor cls, Tensor probeQCls, Tensor probeK) implements AutoCloseable {
    @Override
    public void close() {
        Tensors.closeAll(patches, cls, probeQCls, probeK);
    }
}
