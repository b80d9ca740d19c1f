package dev.vtprune.ops;

import dev.vtprune.nativelib.VtNative;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.Pointer;

/**
 * The {@code vt_tensor} views and the params struct of one native call (vtprune.h), written into
 * one block of native memory that belongs to the calling thread and is reused by every call it
 * makes.
 *
 * <p>Why a per-thread block: a call needs a few views and one params struct, all read by the
 * library during the call and never kept. Allocating them per call (a JavaCPP {@code Pointer}
 * per struct) costs a JNI allocation and a free each, more than the small kernels themselves;
 * a thread-local direct buffer costs one {@code ThreadLocal} lookup and plain stores. A thread
 * makes one native call at a time, so its block is never in use twice; the block grows when a
 * call needs more views (K3's layer lists) and is freed with the buffer by the GC.
 *
 * <p>The sizes a view carries are the ones the op class has already validated against the
 * tensor ({@code Args}), and the strides of a view of a tensor checked contiguous are written as
 * the row-major ones, without asking LibTorch per dimension (a JNI call each); the library
 * checks them anyway, as it does for a C caller. Strided arguments (the Q/K forms) pass the
 * tensor's real strides.
 */
final class NativeViews {
    /** {@code sizeof(vt_tensor)} and its field offsets (vtprune.h; api.cpp static_asserts them). */
    static final int TENSOR_BYTES = 88;
    static final int DATA = 0, DTYPE = 8, DEVICE = 12, NDIM = 16, RESERVED = 20, SHAPE = 24,
            STRIDES = SHAPE + 8 * VtNative.VT_MAX_DIMS;
    /** Room for the largest params struct (all are a few scalars). */
    static final int PARAMS_BYTES = 64;

    private static final ThreadLocal<NativeViews> LOCAL = ThreadLocal.withInitial(() -> new NativeViews(8));

    private final ByteBuffer buffer;
    private final long base;
    private final int capacity;

    private NativeViews(int capacity) {
        this.capacity = capacity;
        buffer = ByteBuffer.allocateDirect(PARAMS_BYTES + capacity * TENSOR_BYTES).order(ByteOrder.nativeOrder());
        base = new Pointer(buffer).address();
    }

    /** This thread's block, with room for at least {@code views} views. */
    static NativeViews get(int views) {
        NativeViews v = LOCAL.get();
        if (v.capacity < views) {
            v = new NativeViews(Math.max(views, 2 * v.capacity));
            LOCAL.set(v);
        }
        return v;
    }

    private int at(int slot) {
        return PARAMS_BYTES + slot * TENSOR_BYTES;
    }

    private long header(int slot, long data, int dtype, int device, int ndim) {
        int o = at(slot);
        buffer.putLong(o + DATA, data);
        buffer.putInt(o + DTYPE, dtype);
        buffer.putInt(o + DEVICE, device);
        buffer.putInt(o + NDIM, ndim);
        buffer.putInt(o + RESERVED, 0);
        return base + o;
    }

    private void dim(int slot, int d, long size, long stride) {
        int o = at(slot);
        buffer.putLong(o + SHAPE + 8 * d, size);
        buffer.putLong(o + STRIDES + 8 * d, stride);
    }

    /** A contiguous rank-1 view in {@code slot}; returns its address. */
    long view(int slot, long data, int dtype, int device, long n0) {
        dim(slot, 0, n0, 1);
        return header(slot, data, dtype, device, 1);
    }

    /** A contiguous rank-2 view [n0, n1]. */
    long view(int slot, long data, int dtype, int device, long n0, long n1) {
        dim(slot, 1, n1, 1);
        dim(slot, 0, n0, n1);
        return header(slot, data, dtype, device, 2);
    }

    /** A contiguous rank-3 view [n0, n1, n2]. */
    long view(int slot, long data, int dtype, int device, long n0, long n1, long n2) {
        dim(slot, 2, n2, 1);
        dim(slot, 1, n1, n2);
        dim(slot, 0, n0, n1 * n2);
        return header(slot, data, dtype, device, 3);
    }

    /** A contiguous rank-4 view [n0, n1, n2, n3]. */
    long view(int slot, long data, int dtype, int device, long n0, long n1, long n2, long n3) {
        dim(slot, 3, n3, 1);
        dim(slot, 2, n2, n3);
        dim(slot, 1, n1, n2 * n3);
        dim(slot, 0, n0, n1 * n2 * n3);
        return header(slot, data, dtype, device, 4);
    }

    /** A view with explicit sizes and strides (in elements), for the strided Q/K arguments. */
    long strided(int slot, long data, int dtype, int device, long[] shape, long[] strides) {
        for (int d = 0; d < shape.length; d++) dim(slot, d, shape[d], strides[d]);
        return header(slot, data, dtype, device, shape.length);
    }

    /** The address of view {@code slot} (written by an earlier call on this block). */
    long address(int slot) {
        return base + at(slot);
    }

    /** The params struct's address; the put methods write its fields at byte offsets. */
    long params() {
        return base;
    }

    NativeViews putDouble(int offset, double v) {
        buffer.putDouble(offset, v);
        return this;
    }

    NativeViews putLong(int offset, long v) {
        buffer.putLong(offset, v);
        return this;
    }

    NativeViews putFloat(int offset, float v) {
        buffer.putFloat(offset, v);
        return this;
    }

    NativeViews putInt(int offset, int v) {
        buffer.putInt(offset, v);
        return this;
    }
}
