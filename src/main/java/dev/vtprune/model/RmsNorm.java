package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * RMSNorm as Llama, Qwen2 and InternLM2 compute it: the statistic and the normalisation in
 * float32 whatever the run dtype, then the cast back, then the scale
 * ({@code w * (x * rsqrt(mean(x^2) + eps)).to(dtype)}), so bf16 runs round where HF rounds.
 */
record RmsNorm(Tensor weight, double eps) {

    static RmsNorm of(Params p, String name, double eps) {
        return new RmsNorm(p.get(name), eps);
    }

    Tensor apply(Tensor x) {
        Tensor xf = x.to(ScalarType.Float);
        Tensor meanSquare = xf.mul(xf).mean(new long[] {-1}, true, new ScalarTypeOptional());
        Tensor normed = xf.mul(torch.rsqrt(meanSquare.add(new Scalar(eps))));
        return weight.mul(normed.to(Tensors.scalarType(x)));
    }
}
