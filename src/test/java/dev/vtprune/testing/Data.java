package dev.vtprune.testing;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Seeded random test inputs. */
public final class Data {
    private Data() {}

    public static ScalarType dtype(String name) {
        switch (name) {
            case "float32": return ScalarType.Float;
            case "float16": return ScalarType.Half;
            case "bfloat16": return ScalarType.BFloat16;
            default: throw new IllegalArgumentException(name);
        }
    }

    /** Standard normal values of the given shape and dtype (drawn in float32, then rounded). */
    public static Tensor randn(long seed, String dtype, long... shape) {
        torch.manual_seed(seed);
        return torch.randn(shape).to(dtype(dtype));
    }

    /** Uniform [0, 1) values. */
    public static Tensor rand(long seed, String dtype, long... shape) {
        torch.manual_seed(seed);
        return torch.rand(shape).to(dtype(dtype));
    }

    /** Rows that are softmax distributions over the last axis (attention probabilities). */
    public static Tensor softmaxRows(long seed, String dtype, double sharpness, long... shape) {
        torch.manual_seed(seed);
        return torch.randn(shape).mul(new org.bytedeco.pytorch.Scalar(sharpness)).softmax(shape.length - 1).to(dtype(dtype));
    }

    /** A random permutation of 0..n-1 as float32 values: distinct scores, no ties. */
    public static Tensor distinct(long seed, int n) {
        torch.manual_seed(seed);
        return torch.randperm(n).to(ScalarType.Float);
    }
}
