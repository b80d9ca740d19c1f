package dev.vtprune.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The decoder MLP {@code down(silu(gate(x)) * up(x))}. Gate and up are packed into one weight
 * [2m, d] at load time (gate rows first), so the two projections are one GEMM.
 */
record SwiGlu(Linear gateUp, Linear down, long width) {
    Tensor apply(Tensor x) {
        Tensor gu = gateUp.apply(x);
        long last = gu.dim() - 1;
        return down.apply(torch.silu(gu.narrow(last, 0, width)).mul(gu.narrow(last, width, width)));
    }
}
