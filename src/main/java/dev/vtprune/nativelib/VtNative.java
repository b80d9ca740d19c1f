package dev.vtprune.nativelib;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP binding of the C ABI in {@code src/main/cpp/include/vtprune/vtprune.h}.
 *
 * <p>Raw pointers cross as {@code long} addresses (a tensor's {@code data_ptr().address()}, or
 * a {@code vt_tensor} view and a params struct that {@code dev.vtprune.ops.NativeViews} wrote
 * into a per-thread block): no {@code Pointer} object is created per argument, which keeps a
 * call to a few hundred nanoseconds. Every op returns a status code;
 * {@code dev.vtprune.ops.NativeLibrary} turns non-zero codes into exceptions. The op classes of
 * {@code dev.vtprune.ops} validate before calling (with messages in the user's terms); the
 * library checks the views again, as it does for any C caller.
 *
 * <p>{@code @NoException}: no entry point of vtprune.h lets a C++ exception escape (api.cpp runs
 * every op inside {@code vt::guard}; the queries are plain arithmetic), so JavaCPP's
 * per-call try/catch in the JNI glue is left out.
 */
@Platform(include = "vtprune/vtprune.h", link = "vtprune")
@NoException
public final class VtNative {
    static {
        Loader.load();
    }

    private VtNative() {}

    // Every constant below is vtprune.h's; VtNativeConstantsTest parses the header and fails on
    // any that differs or is missing here.

    /** VT_ABI_VERSION of the vtprune.h these classes were built against. */
    public static final int VT_ABI_VERSION = 2;

    public static final int VT_OK = 0;
    public static final int VT_ERR_INVALID_ARGUMENT = 1;
    public static final int VT_ERR_UNSUPPORTED = 2;
    public static final int VT_ERR_CUDA_UNAVAILABLE = 3;
    public static final int VT_ERR_CUDA = 4;
    public static final int VT_ERR_OUT_OF_MEMORY = 5;
    public static final int VT_ERR_INTERNAL = 6;
    public static final int VT_ERR_NONFINITE = 7;

    public static final int VT_FLOAT32 = 0;
    public static final int VT_FLOAT16 = 1;
    public static final int VT_BFLOAT16 = 2;
    public static final int VT_INT64 = 3;

    /** The most dimensions of a vt_tensor view. */
    public static final int VT_MAX_DIMS = 4;

    public static final int VT_REDUCE_MEAN = 0;
    public static final int VT_REDUCE_MAX = 1;

    public static final int VT_ROLLOUT_IVTP = 0;
    public static final int VT_ROLLOUT_ABNAR = 1;

    // ---- common ----
    public static native @Cast("const char*") String vt_last_error();

    public static native @Cast("const char*") String vt_version();

    public static native int vt_abi_version();

    public static native int vt_cuda_compiled();

    public static native int vt_cuda_device_count();

    public static native int vt_get_num_threads();

    public static native int vt_set_num_threads(int threads);

    public static native int vt_synchronize(int device, @Cast("void*") long stream);

    // ---- K1 ----
    public static native int vt_region_budget(@Cast("void*") long stream, @Cast("const vt_tensor*") long cls,
            @Cast("const vt_tensor*") long tileOffsets, @Cast("const vt_tensor*") long tokenOffsets,
            @Cast("const vt_tensor*") long scores, @Cast("const vt_tensor*") long weights,
            @Cast("const vt_tensor*") long budgets, @Cast("const vt_region_budget_params*") long params);

    // ---- K2 ----
    public static native int vt_fused_topk(@Cast("void*") long stream, @Cast("const vt_tensor*") long bottomUp,
            @Cast("const vt_tensor*") long instruction, @Cast("const vt_tensor*") long tokenOffsets,
            @Cast("const vt_tensor*") long budgets, @Cast("const vt_tensor*") long fused,
            @Cast("const vt_tensor*") long kept, @Cast("const vt_tensor*") long keptPerTile,
            @Cast("const vt_fused_topk_params*") long params);

    // ---- K3 ----
    // The layer lists are host arrays of consecutive vt_tensor views (NativeViews slots).
    public static native @Cast("size_t") long vt_rollout_workspace_bytes(@Cast("const vt_tensor*") long layer);

    public static native int vt_rollout(@Cast("void*") long stream, @Cast("const vt_tensor*") long layers,
            @Cast("const vt_tensor*") long values, @Cast("const vt_tensor*") long clsRow,
            @Cast("const vt_tensor*") long importance, @Cast("const vt_rollout_params*") long params,
            @Cast("void*") long workspace, @Cast("size_t") long workspaceBytes);

    public static native @Cast("size_t") long vt_rollout_matrix_workspace_bytes(@Cast("const vt_tensor*") long layer);

    public static native int vt_rollout_matrix(@Cast("void*") long stream, @Cast("const vt_tensor*") long layers,
            @Cast("const vt_tensor*") long matrix, @Cast("const vt_rollout_params*") long params,
            @Cast("void*") long workspace, @Cast("size_t") long workspaceBytes);

    public static native @Cast("size_t") long vt_rollout_qk_workspace_bytes(@Cast("const vt_tensor*") long qLayer);

    public static native int vt_rollout_qk(@Cast("void*") long stream, @Cast("const vt_tensor*") long qLayers,
            @Cast("const vt_tensor*") long kLayers, @Cast("const vt_tensor*") long values,
            @Cast("const vt_tensor*") long clsRow, @Cast("const vt_tensor*") long importance,
            @Cast("const vt_rollout_qk_params*") long params, @Cast("void*") long workspace,
            @Cast("size_t") long workspaceBytes);

    // ---- K4 ----
    public static native int vt_text_relevance(@Cast("void*") long stream, @Cast("const vt_tensor*") long attn,
            @Cast("const vt_tensor*") long queryOffsets, @Cast("const vt_tensor*") long visualOffsets,
            @Cast("const vt_tensor*") long out, @Cast("const vt_text_relevance_params*") long params);

    public static native @Cast("size_t") long vt_text_relevance_qk_workspace_bytes(@Cast("const vt_tensor*") long q);

    public static native int vt_text_relevance_qk(@Cast("void*") long stream, @Cast("const vt_tensor*") long q,
            @Cast("const vt_tensor*") long k, @Cast("const vt_tensor*") long queryOffsets,
            @Cast("const vt_tensor*") long keyOffsets, @Cast("const vt_tensor*") long queryPos,
            @Cast("const vt_tensor*") long visualOffsets, @Cast("const vt_tensor*") long visualPos,
            @Cast("const vt_tensor*") long out, @Cast("const vt_text_relevance_qk_params*") long params,
            @Cast("void*") long workspace, @Cast("size_t") long workspaceBytes);

    // ---- K5 ----
    public static native int vt_cls_saliency(@Cast("void*") long stream, @Cast("const vt_tensor*") long attn,
            @Cast("const vt_tensor*") long out, @Cast("const vt_cls_saliency_params*") long params);

    public static native int vt_cls_saliency_qk(@Cast("void*") long stream, @Cast("const vt_tensor*") long qCls,
            @Cast("const vt_tensor*") long k, @Cast("const vt_tensor*") long out,
            @Cast("const vt_cls_saliency_qk_params*") long params);
}
