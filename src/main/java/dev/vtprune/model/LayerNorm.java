package dev.vtprune.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** LayerNorm over the last axis with scale and shift (ViTs, InternVL's projector). */
record LayerNorm(Tensor weight, Tensor bias, double eps) {

    static LayerNorm of(Params p, String prefix, double eps) {
        return new LayerNorm(p.get(prefix + ".weight"), p.get(prefix + ".bias"), eps);
    }

    Tensor apply(Tensor x) {
        return torch.layer_norm(x, new long[] {weight.size(0)}, new TensorOptional(weight), new TensorOptional(bias),
                eps, false);
    }
}
