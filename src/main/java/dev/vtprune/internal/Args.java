package dev.vtprune.internal;

import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Argument checks shared by the ops and the pruners. Every failure is an
 * IllegalArgumentException that names the argument and says what was expected and what came.
 */
public final class Args {
    private Args() {}

    public static IllegalArgumentException error(String name, String expected, Object actual) {
        return new IllegalArgumentException("argument '" + name + "' must " + expected + ", got " + actual);
    }

    public static Tensor defined(Tensor t, String name) {
        if (t == null || t.isNull() || !t.defined()) throw error(name, "be a defined tensor", Tensors.describe(t));
        return t;
    }

    /** Rank check; `dims` names the axes, e.g. "[tiles, heads, patches]". */
    public static void rank(Tensor t, String name, int rank, String dims) {
        defined(t, name);
        if (t.dim() != rank) throw error(name, "have rank " + rank + " " + dims, Tensors.describe(t));
    }

    public static void size(Tensor t, String name, int axis, long expected, String what) {
        if (t.size(axis) != expected) {
            throw error(name, "have size " + expected + " (" + what + ") on axis " + axis, Tensors.describe(t));
        }
    }

    /** fp32, fp16 or bf16: the element types the kernels read. */
    public static void floating(Tensor t, String name) {
        defined(t, name);
        if (Tensors.vtDtype(Tensors.scalarType(t)) < 0) {
            throw error(name, "be float32, float16 or bfloat16", Tensors.describe(t));
        }
    }

    public static void dtype(Tensor t, String name, ScalarType expected) {
        defined(t, name);
        if (Tensors.scalarType(t) != expected) throw error(name, "be " + Tensors.dtypeName(expected), Tensors.describe(t));
    }

    public static void sameDtype(Tensor ref, String refName, Tensor t, String name) {
        if (Tensors.scalarType(t) != Tensors.scalarType(ref)) {
            throw error(name, "have the dtype of '" + refName + "' (" + Tensors.dtypeName(Tensors.scalarType(ref)) + ")",
                    Tensors.describe(t));
        }
    }

    public static void contiguous(Tensor t, String name) {
        if (!t.is_contiguous()) {
            throw error(name, "be contiguous (call .contiguous() first); strides are "
                    + Arrays.toString(strides(t)), Tensors.describe(t));
        }
    }

    /** The last axis must be dense (stride 1): the kernels read head_dim vectors directly. */
    public static void innerContiguous(Tensor t, String name) {
        if (t.size(t.dim() - 1) > 1 && t.stride(t.dim() - 1) != 1) {
            throw error(name, "have a contiguous last axis (stride 1); strides are " + Arrays.toString(strides(t)),
                    Tensors.describe(t));
        }
    }

    public static void sameDevice(Tensor ref, String refName, Tensor t, String name) {
        if (!Tensors.deviceOf(t).equals(Tensors.deviceOf(ref))) {
            throw error(name, "be on the device of '" + refName + "' (" + Tensors.deviceName(ref) + ")",
                    Tensors.describe(t));
        }
    }

    /** CPU or CUDA: the devices the kernels serve. */
    public static void supportedDevice(Tensor t, String name) {
        if (!t.is_cpu() && !t.is_cuda()) throw error(name, "be on the CPU or a CUDA device", Tensors.describe(t));
    }

    /** No NaN or infinity (one pass over the data: use for small inputs). */
    public static void finite(Tensor t, String name) {
        if (t.numel() > 0 && !t.isfinite().all().item_bool()) {
            throw error(name, "hold finite values only", Tensors.describe(t) + " with NaN or infinite entries");
        }
    }

    public static double inRange(double v, String name, double lo, double hi, boolean hiInclusive) {
        if (!(v >= lo && (hiInclusive ? v <= hi : v < hi))) {
            throw error(name, "be in [" + lo + ", " + hi + (hiInclusive ? "]" : ")"), v);
        }
        return v;
    }

    public static long atLeast(long v, String name, long lo) {
        if (v < lo) throw error(name, "be >= " + lo, v);
        return v;
    }

    public static <T> T notNull(T v, String name) {
        if (v == null) throw error(name, "not be null", "null");
        return v;
    }

    public static long[] strides(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) s[i] = t.stride(i);
        return s;
    }
}
