package dev.vtprune.ops;

import static dev.vtprune.ops.RegionBudgetTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.nativelib.VtNative;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * The C ABI itself, called with bad arguments the Java layer would never pass (it validates
 * first): every call must return a status and a message naming the op and the argument, never
 * crash the JVM. And the Java layer's device checks, with tensors on LibTorch's "meta" device
 * (no GPU is needed to have a tensor on the wrong device).
 */
class NativeAbiTest {
    static {
        NativeLibrary.load();
    }

    static void assertStatus(int expected, int status, String fragment) {
        assertEquals(expected, status, "status; message: " + VtNative.vt_last_error());
        assertTrue(VtNative.vt_last_error().contains(fragment), "'" + VtNative.vt_last_error() + "' should contain '" + fragment + "'");
    }

    @Test
    void badArgumentsAreStatusCodesWithMessages() {
        try (FloatPointer cls = new FloatPointer(8); FloatPointer f = new FloatPointer(8); LongPointer l = new LongPointer(8);
             LongPointer off = new LongPointer(0, 4, 2)) {
            // decreasing offsets
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, fusedTopk(-1, f.address(), 0, VtNative.VT_FLOAT32, 2, off.address(),
                    2, l.address(), 0f), "vt_fused_topk: argument 'token_offsets' must be non-decreasing");
            // negative sizes
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, regionBudget(cls.address(), -1, off.address(), f.address(),
                    l.address(), 0.5), "vt_region_budget: argument 'cls' must have sizes >= 0, got shape [num_tiles, dim] = [-1, 4]");
            // unknown dtype, NULL pointer, out-of-range enums and ratios
            try (LongPointer ok = new LongPointer(0, 2)) {
                assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, fusedTopk(-1, f.address(), 0, 7, 2, ok.address(), 1, l.address(), 0f),
                        "argument 'bottom_up' must have dtype 0 (float32), 1 (float16) or 2 (bfloat16), got 7");
                assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, fusedTopk(-1, 0, 0, VtNative.VT_FLOAT32, 2, ok.address(), 1,
                        l.address(), 0f), "argument 'bottom_up' must not have NULL data (it has shape [2])");
                assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, fusedTopk(-1, f.address(), 0, VtNative.VT_FLOAT32, 2, ok.address(),
                        1, l.address(), 0.5f), "argument 'instruction' must not be NULL when alpha != 0");
            }
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, regionBudget(cls.address(), 1, off.address(), f.address(),
                    l.address(), 1.5), "argument 'keep_ratio' must be in [0, 1], got 1.5");
            NativeViews v = NativeViews.get(2).putLong(0, 0).putLong(8, 2).putLong(16, 3).putInt(24, VtNative.VT_REDUCE_MEAN);
            long attn = v.view(0, f.address(), VtNative.VT_FLOAT32, -1, 1, 1, 4), out = v.view(1, f.address(),
                    VtNative.VT_FLOAT32, -1, 1, 4);
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, VtNative.vt_cls_saliency(0, attn, out, v.params()),
                    "argument 'merge' must divide grid (2), got 3");
            v.putLong(16, 1).putInt(24, 9);
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, VtNative.vt_cls_saliency(0, attn, out, v.params()),
                    "argument 'head_reduce' must be 0 (mean) or 1 (max), got 9");
            v.putInt(24, VtNative.VT_REDUCE_MAX);
            assertEquals(VtNative.VT_OK, VtNative.vt_cls_saliency(0, attn, out, v.params()), VtNative.vt_last_error());
        }
        assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, VtNative.vt_set_num_threads(0), "argument 'threads' must be in [1, 256], got 0");
    }

    /** vt_region_budget on the CPU: one image of `tiles` tiles of dim 4, every output at `out` / `longs`. */
    static int regionBudget(long cls, long tiles, long offsets, long out, long longs, double keep) {
        NativeViews v = NativeViews.get(6).putDouble(0, keep).putDouble(8, 1.0).putLong(16, 0);
        return VtNative.vt_region_budget(0, v.view(0, cls, VtNative.VT_FLOAT32, -1, tiles, 4),
                v.view(1, offsets, VtNative.VT_INT64, -1, 2), v.view(2, offsets, VtNative.VT_INT64, -1, tiles + 1),
                v.view(3, out, VtNative.VT_FLOAT32, -1, tiles), v.view(4, out, VtNative.VT_FLOAT32, -1, tiles),
                v.view(5, longs, VtNative.VT_INT64, -1, tiles), v.params());
    }

    /** vt_fused_topk on `device` over `n` tokens in `tiles` tiles, every output at `f` / `l`; c = 0: no instruction view. */
    static int fusedTopk(int device, long b, long c, int dtype, long n, long offsets, long tiles, long l, float alpha) {
        NativeViews v = NativeViews.get(7).putFloat(0, alpha).putInt(4, 1);
        return VtNative.vt_fused_topk(0, v.view(0, b, dtype, device, n), c == 0 ? 0 : v.view(1, c, dtype, device, n),
                v.view(2, offsets, VtNative.VT_INT64, device, tiles + 1), v.view(3, l, VtNative.VT_INT64, device, tiles),
                v.view(4, b, VtNative.VT_FLOAT32, device, n), v.view(5, l, VtNative.VT_INT64, device, n),
                v.view(6, l, VtNative.VT_INT64, device, tiles), v.params());
    }

    @Test
    void viewsOfAJavaCallerAreCheckedByTheLibrary() {
        // The library's own checks, reached through the binding: a view on another device than the
        // first, and a transposed (non-contiguous) view.
        try (FloatPointer cls = new FloatPointer(8); FloatPointer f = new FloatPointer(8); LongPointer l = new LongPointer(8);
             LongPointer off = new LongPointer(0, 1)) {
            assertEquals(VtNative.VT_OK, regionBudget(cls.address(), 1, off.address(), f.address(), l.address(), 0.5),
                    VtNative.vt_last_error());
            NativeViews v = NativeViews.get(6);
            long mixed = v.view(4, f.address(), VtNative.VT_FLOAT32, 0, 1);
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, VtNative.vt_region_budget(0, v.address(0), v.address(1),
                    v.address(2), v.address(3), mixed, v.address(5), v.params()),
                    "vt_region_budget: argument 'weights' must be on the device of 'cls' (cpu), got cuda:0");
            v.view(4, f.address(), VtNative.VT_FLOAT32, -1, 1);
            long transposed = v.strided(0, cls.address(), VtNative.VT_FLOAT32, -1, new long[] {1, 4}, new long[] {1, 2});
            assertStatus(VtNative.VT_ERR_INVALID_ARGUMENT, VtNative.vt_region_budget(0, transposed, v.address(1),
                    v.address(2), v.address(3), v.address(4), v.address(5), v.params()),
                    "argument 'cls' must be contiguous (row-major strides [4, 1] for shape [1, 4]), got strides [1, 2]");
        }
    }

    @Test
    void cudaWithoutADeviceIsAStatusNotACrash() {
        if (NativeLibrary.cudaDeviceCount() > 0) return;  // this machine has a GPU: nothing to show here
        try (FloatPointer f = new FloatPointer(8); LongPointer l = new LongPointer(8); LongPointer off = new LongPointer(0, 2)) {
            int status = fusedTopk(0, f.address(), 0, VtNative.VT_FLOAT32, 2, off.address(), 1, l.address(), 0f);
            assertEquals(VtNative.VT_ERR_CUDA_UNAVAILABLE, status);
            assertTrue(VtNative.vt_last_error().contains(NativeLibrary.cudaCompiled()
                    ? "CUDA device 0, but 0 device(s) are usable" : "built without CUDA"), VtNative.vt_last_error());
        }
        assertEquals(VtNative.VT_ERR_CUDA_UNAVAILABLE, VtNative.vt_synchronize(0, 0));
    }

    static Tensor meta(long... shape) {
        return torch.empty(shape, new TensorOptions(ScalarType.Float).device(new DeviceOptional(new Device("meta"))),
                new MemoryFormatOptional());
    }

    @Test
    void tensorsOnAnotherDeviceAreRejectedByName() {
        try (TileLayout layout = TileLayout.of(new long[] {2}, new long[] {4, 4})) {
            assertMessage(() -> RegionBudget.compute(meta(2, 8), layout, RegionBudget.Params.PAPER),
                    "argument 'cls' must be on the CPU or a CUDA device, got float32[2, 8] on a device of type");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), meta(8), layout, Tensor.create(2L, 2L), 0.5),
                    "argument 'instruction' must be on the device of 'bottomUp' (cpu)");
            assertMessage(() -> SegmentedTopK.select(torch.randn(8), layout, meta(2).to(ScalarType.Long)),
                    "argument 'budgets' must be on the device of 'bottomUp' (cpu)");
        }
    }
}
