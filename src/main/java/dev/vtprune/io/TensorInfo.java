package dev.vtprune.io;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header: its element type, its shape and the bytes it
 * occupies, as [begin, end) offsets relative to the start of the data section (the format's own
 * convention; {@link SafetensorsFile#dataOffset()} turns them into file positions). Offsets are
 * longs: shards of large models exceed 2 GB.
 */
public record TensorInfo(String name, SafetensorsDtype dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    /** A copy: the record stays immutable. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements (1 for a scalar with shape []); the header parser rules out overflow. */
    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Size of the data in bytes: end - begin. */
    public long byteSize() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + ": " + dtype.name() + Arrays.toString(shape) + " at [" + begin + ", " + end + ")";
    }
}
