package dev.vtprune.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** y = x W^T + b over the last axis; the bias may be null. Weights belong to a {@link Params}. */
record Linear(Tensor weight, Tensor bias) {

    static Linear of(Params p, String prefix, boolean bias) {
        return new Linear(p.get(prefix + ".weight"), bias ? p.get(prefix + ".bias") : null);
    }

    long out() {
        return weight.size(0);
    }

    Tensor apply(Tensor x) {
        return bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
    }
}
