package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Rotary position embedding as HF Llama, Qwen2 and InternLM2 apply it (the rotate_half
 * convention, not the interleaved one): with {@code inv_freq_i = theta^(-2i/d)}, i < d/2,
 * and {@code angle = pos * inv_freq} repeated twice to width d,
 * {@code rope(x) = x * cos(angle) + rotate_half(x) * sin(angle)},
 * {@code rotate_half([x1, x2]) = [-x2, x1]}. Angles are formed in float32 and cos/sin cast to
 * the run dtype, as HF does.
 */
final class Rope {
    private Rope() {}

    /** inv_freq as float32 values (one rounding of the exact theta^(-2i/d)). */
    static float[] inverseFrequencies(int headDim, double theta) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = (float) Math.pow(theta, -2.0 * i / headDim);
        return inv;
    }

    /**
     * cos and sin tables [B, 1, L, d] (broadcast over heads) for int64 positions [B, L].
     *
     * @return {cos, sin} in `dtype` on the device of positions
     */
    static Tensor[] tables(Tensor positions, int headDim, double theta, ScalarType dtype) {
        Tensor inv = Tensors.floats(inverseFrequencies(headDim, theta), headDim / 2)
                .to(positions.device(), ScalarType.Float);
        Tensor half = positions.to(ScalarType.Float).unsqueeze(-1).mul(inv);  // [B, L, d/2]
        TensorVector both = new TensorVector(half, half);
        Tensor angle = torch.cat(both, -1).unsqueeze(1);                      // [B, 1, L, d]
        return new Tensor[] {angle.cos().to(dtype), angle.sin().to(dtype)};
    }

    /** x [B, H, L, d] rotated by the tables of {@link #tables}. */
    static Tensor apply(Tensor x, Tensor cos, Tensor sin) {
        return x.mul(cos).add(rotateHalf(x).mul(sin));
    }

    static Tensor rotateHalf(Tensor x) {
        long last = x.dim() - 1, half = x.size(-1) / 2;
        TensorVector parts = new TensorVector(x.narrow(last, half, half).neg(), x.narrow(last, 0, half));
        return torch.cat(parts, -1);
    }
}
