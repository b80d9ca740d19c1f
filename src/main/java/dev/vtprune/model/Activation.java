package dev.vtprune.model;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** The MLP nonlinearities of the two ViT flavours and the projectors. */
enum Activation {
    /** Exact GELU, x * Phi(x) through erf (InternViT, both projectors: HF "gelu"). */
    GELU,
    /** CLIP's x * sigmoid(1.702 x) (HF "quick_gelu"). */
    QUICK_GELU;

    Tensor apply(Tensor x) {
        if (this == GELU) return torch.gelu(x);
        return x.mul(torch.sigmoid(x.mul(new Scalar(1.702))));
    }
}
