package dev.vtprune.model;

import java.util.Arrays;

/**
 * One weight a module needs, declared by the module itself so that the random initialiser and
 * the checkpoint loader cannot disagree with the forward code about names and shapes.
 *
 * @param name  canonical name, family-neutral ("language.layers.3.attn.qkv.weight")
 * @param shape shape in the model (after any packing done at load time)
 * @param init  how {@link RandomWeights} fills it
 * @param group "vision", "projector" or "language": the module, for progress messages
 * @param layer layer index within the group, -1 for weights outside the layers
 */
record ParamSpec(String name, long[] shape, Init init, String group, int layer) {

    /** What a weight is, which decides its random initialisation. */
    enum Init {
        /** Linear weight [out, in]: N(0, 1/sqrt(in)). */
        LINEAR,
        /** Convolution weight [out, in, kh, kw]: N(0, 1/sqrt(in*kh*kw)). */
        CONV,
        /** Bias of a Linear or convolution: N(0, 0.02). */
        BIAS,
        /** Scale of a LayerNorm or RMSNorm: 1. */
        NORM_WEIGHT,
        /** Shift of a LayerNorm: 0. */
        NORM_BIAS,
        /** InternViT's per-channel residual scale: 0.1. */
        LAYER_SCALE,
        /** Token, class and position embeddings: N(0, 1/sqrt(hidden)). */
        EMBEDDING
    }

    ParamSpec {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
