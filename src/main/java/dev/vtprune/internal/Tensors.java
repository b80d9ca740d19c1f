package dev.vtprune.internal;

import dev.vtprune.nativelib.VtNative;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small conveniences over bytedeco LibTorch tensors used across the library and its tests. */
public final class Tensors {
    private Tensors() {}

    private static final ScalarType[] BY_VALUE = new ScalarType[64];

    static {
        for (ScalarType s : ScalarType.values()) {
            if (s.value >= 0 && s.value < BY_VALUE.length && BY_VALUE[s.value] == null) BY_VALUE[s.value] = s;
        }
    }

    /**
     * The element type of t as one of the ScalarType constants. JavaCPP returns native enums as
     * fresh objects that only carry the value (so == and switch do not work on them); this maps
     * the value back to the constant.
     */
    public static ScalarType scalarType(Tensor t) {
        int v = t.scalar_type().value;
        ScalarType s = v >= 0 && v < BY_VALUE.length ? BY_VALUE[v] : null;
        return s == null ? ScalarType.Undefined : s;
    }

    /** "float32[13, 16, 256] on cpu" — how arguments are described in error messages. */
    public static String describe(Tensor t) {
        if (t == null) return "null";
        if (t.isNull() || !t.defined()) return "an undefined tensor";
        return dtypeName(scalarType(t)) + Arrays.toString(t.shape()) + " on " + deviceName(t);
    }

    public static String dtypeName(ScalarType type) {
        switch (type) {
            case Float: return "float32";
            case Half: return "float16";
            case BFloat16: return "bfloat16";
            case Double: return "float64";
            case Long: return "int64";
            case Int: return "int32";
            case Short: return "int16";
            case Byte: return "uint8";
            case Char: return "int8";
            case Bool: return "bool";
            default: return type.toString().toLowerCase();
        }
    }

    public static String deviceName(Tensor t) {
        if (t.is_cpu()) return "cpu";
        if (t.is_cuda()) return "cuda:" + t.device().index();
        return "a device of type " + t.device().type().value;
    }

    /** The vt_dtype code of a floating tensor, or -1 for other types. */
    public static int vtDtype(ScalarType type) {
        switch (type) {
            case Float: return VtNative.VT_FLOAT32;
            case Half: return VtNative.VT_FLOAT16;
            case BFloat16: return VtNative.VT_BFLOAT16;
            default: return -1;
        }
    }

    /** Address of the first element (storage offset included). */
    public static long address(Tensor t) {
        org.bytedeco.javacpp.Pointer p = t.data_ptr();  // null for a tensor without storage (0 elements)
        return p == null ? 0L : p.address();
    }

    /** Address of an optional tensor, 0 for null. */
    public static long addressOrNull(Tensor t) {
        return t == null ? 0L : address(t);
    }

    // Building a TensorOptions costs 1-3 us of JNI allocations, more than a small kernel: the
    // options of every (dtype, device) an op allocates on are made once and kept. They are
    // immutable on the C++ side and safe to share between threads.
    private static final java.util.concurrent.ConcurrentMap<Long, TensorOptions> OPTIONS =
            new java.util.concurrent.ConcurrentHashMap<>();
    private static final MemoryFormatOptional NO_MEMORY_FORMAT = OpScope.unscoped(MemoryFormatOptional::new);
    private static final Device CPU = OpScope.unscoped(() -> new Device(torch.DeviceType.CPU));

    /** The CPU device (a shared object: do not close it). */
    public static Device cpu() {
        return CPU;
    }

    /** The device of t: a shared object for the CPU, Tensors.deviceOf(t) otherwise. */
    public static Device deviceOf(Tensor t) {
        return t.is_cpu() ? CPU : t.device();
    }

    /** Options for a dtype on a device (cached; do not close them). */
    public static TensorOptions options(ScalarType type, Device device) {
        long key = ((long) type.value << 32) | (device.is_cuda() ? 1L + (device.index() & 0xFF) : 0L);
        TensorOptions o = OPTIONS.get(key);
        if (o == null) {
            o = OPTIONS.computeIfAbsent(key, k -> OpScope.unscoped(() -> new TensorOptions(type).device(
                    new DeviceOptional(device.is_cuda() ? new Device(torch.DeviceType.CUDA, device.index()) : CPU))));
        }
        return o;
    }

    public static Tensor empty(ScalarType type, Device device, long... shape) {
        return torch.empty(shape, options(type, device), NO_MEMORY_FORMAT);
    }

    /**
     * When the system property {@code vtprune.poisonOutputs} is true, every output buffer an op
     * allocates for a kernel is first filled with NaN (floating types) or Long.MIN_VALUE
     * (integers), so that tests can prove the kernel wrote every element.
     */
    public static final boolean POISON_OUTPUTS = Boolean.getBoolean("vtprune.poisonOutputs");

    /** An output buffer for a kernel to fill: uninitialised, or poisoned under test. */
    public static Tensor output(ScalarType type, Device device, long... shape) {
        Tensor t = empty(type, device, shape);
        if (POISON_OUTPUTS) {
            t.fill_(new org.bytedeco.pytorch.Scalar(type == ScalarType.Long ? (double) Long.MIN_VALUE : Double.NaN));
        }
        return t;
    }

    public static Tensor zeros(ScalarType type, Device device, long... shape) {
        return torch.zeros(shape, options(type, device));
    }

    public static Tensor full(ScalarType type, Device device, double value, long... shape) {
        return torch.full(shape, new org.bytedeco.pytorch.Scalar(value), options(type, device));
    }

    /** An int64 tensor holding `values`, on `device`. */
    public static Tensor longs(Device device, long... values) {
        Tensor cpu = Tensor.create(values);
        return device.is_cuda() ? cpu.to(device, ScalarType.Long) : cpu;
    }

    /** A float32 CPU tensor of the given shape holding `values`. */
    public static Tensor floats(float[] values, long... shape) {
        return Tensor.create(values, shape);
    }

    /** A float64 CPU tensor of the given shape holding `values`. */
    public static Tensor doubles(double[] values, long... shape) {
        return Tensor.create(values, shape);
    }

    /** The elements of t (any device, any floating or integer type) as doubles, row-major. */
    // The host copies below free their temporary tensors before returning (an OpScope): they are
    // called per request, and with pointer GC off (-Dorg.bytedeco.javacpp.nopointergc=true)
    // nothing else would.
    public static double[] toDoubles(Tensor t) {
        try (OpScope scope = new OpScope()) {
            Tensor c = t.to(CPU, ScalarType.Double).contiguous();
            double[] out = new double[(int) c.numel()];
            if (out.length > 0) ((DoubleBuffer) c.createBuffer()).get(out);
            return out;
        }
    }

    public static float[] toFloats(Tensor t) {
        try (OpScope scope = new OpScope()) {
            Tensor c = t.to(CPU, ScalarType.Float).contiguous();
            float[] out = new float[(int) c.numel()];
            if (out.length > 0) ((FloatBuffer) c.createBuffer()).get(out);
            return out;
        }
    }

    public static long[] toLongs(Tensor t) {
        try (OpScope scope = new OpScope()) {
            Tensor c = t.to(CPU, ScalarType.Long).contiguous();
            long[] out = new long[(int) c.numel()];
            if (out.length > 0) ((LongBuffer) c.createBuffer()).get(out);
            return out;
        }
    }

    /**
     * Runs `make` outside of any PointerScope of the caller: for long-lived tensors (weights,
     * cached inputs) that must survive an enclosing scope. Freed by close() or the GC.
     */
    public static <P extends org.bytedeco.javacpp.Pointer> P unscoped(java.util.function.Supplier<P> make) {
        return OpScope.unscoped(make);
    }

    /** Closes every non-null tensor (idempotent: a closed tensor is skipped). */
    public static void closeAll(Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && !t.isNull()) t.close();
        }
    }
}
