package dev.vtprune.io;

import static dev.vtprune.io.IoErrors.invalid;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian data.
 *
 * <p>{@link #open} reads and validates the header only (see {@link SafetensorsHeader} for what is
 * checked); tensor data is read on {@link #load}, straight from the file into the storage of a new
 * CPU tensor with positional reads. The tensor owns that storage: it stays valid after this file
 * is closed or deleted, like any other LibTorch tensor, and joins the caller's PointerScope when
 * one is open. Positional reads rather than a memory map: the copy into owned memory is needed
 * either way, and a map cannot be released in Java 17 before the garbage collector finds it (a
 * checkpoint load would leave gigabytes of mappings behind) and turns a file truncated by someone
 * else into a SIGBUS-style InternalError instead of an IOException.
 *
 * <p>Bad content is an IllegalArgumentException naming the file, the tensor, and the expected and
 * actual value; I/O failures are UncheckedIOExceptions naming the file. Loads may run concurrently.
 */
public final class SafetensorsFile implements TensorSource {
    private final Path path;
    private final FileChannel channel;
    private final long dataOffset;
    private final SafetensorsHeader header;
    private final int chunkBytes;
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataOffset, SafetensorsHeader header,
                            int chunkBytes) {
        this.path = path;
        this.channel = channel;
        this.dataOffset = dataOffset;
        this.header = header;
        this.chunkBytes = chunkBytes;
    }

    /** Opens `path` and validates its header; the caller closes the result. */
    public static SafetensorsFile open(Path path) {
        return open(path, ChunkedIo.DEFAULT_CHUNK_BYTES);
    }

    /** As {@link #open(Path)} with the largest single read of a load set to `chunkBytes` (tests use small ones). */
    static SafetensorsFile open(Path path, int chunkBytes) {
        Args.notNull(path, "path");
        Args.atLeast(chunkBytes, "chunkBytes", 1);
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("safetensors data is little-endian; this machine is "
                    + ByteOrder.nativeOrder() + " and byte swapping is not implemented");
        }
        String where = "safetensors file " + path;
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + where + ": " + e, e);
        }
        try {
            long size = ch.size();
            if (size < Long.BYTES) {
                throw invalid(where, "size", "be at least 8 bytes (the header length)", size + " bytes");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            ChunkedIo.readFully(ch, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength < 0 || headerLength > SafetensorsHeader.MAX_HEADER_BYTES) {
                throw invalid(where, "header length", "be at most " + SafetensorsHeader.MAX_HEADER_BYTES
                        + " bytes (larger values mean a corrupt file)", Long.toUnsignedString(headerLength) + " bytes");
            }
            if (headerLength > size - Long.BYTES) {
                throw invalid(where, "header length", "fit in the file, which has " + (size - Long.BYTES)
                        + " bytes after the length field (the file is shorter than the header claims)",
                        headerLength + " bytes");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            ChunkedIo.readFully(ch, headerBytes, Long.BYTES);
            long dataOffset = Long.BYTES + headerLength;
            SafetensorsHeader header = SafetensorsHeader.parse(headerBytes.array(), size - dataOffset, where);
            return new SafetensorsFile(path, ch, dataOffset, header, chunkBytes);
        } catch (IOException e) {
            closeQuietly(ch, e);
            throw new UncheckedIOException("cannot read the header of " + where + ": " + e, e);
        } catch (RuntimeException | Error e) {
            closeQuietly(ch, e);
            throw e;
        }
    }

    private static void closeQuietly(FileChannel ch, Throwable cause) {
        try {
            ch.close();
        } catch (IOException suppressed) {
            cause.addSuppressed(suppressed);
        }
    }

    public Path path() {
        return path;
    }

    /** File position of the data section: the header's byte offsets count from here. */
    public long dataOffset() {
        return dataOffset;
    }

    /** Tensor names in header order. Available after close. */
    @Override
    public Set<String> names() {
        return header.tensors.keySet();
    }

    /** The header entry of `name`. Available after close. */
    public TensorInfo info(String name) {
        TensorInfo info = header.tensors.get(name);
        if (info == null) throw IoErrors.missing(describe(), name, names());
        return info;
    }

    /** The {@code __metadata__} strings of the header (empty when it has none), in file order. */
    public Map<String, String> metadata() {
        return header.metadata;
    }

    /** A new CPU tensor holding `name` as stored (dtype and shape) in memory it owns. */
    @Override
    public Tensor load(String name) {
        TensorInfo info = info(name);
        Tensor t = Tensors.empty(info.dtype().scalarType(), new Device(torch.DeviceType.CPU), info.shape());
        readInto(t, info);
        return t;
    }

    /**
     * A new CPU tensor holding `name` converted to `target` (LibTorch's conversion: rounding to
     * nearest for floats, truncation toward zero for float to integer). The stored-type copy is a
     * temporary freed before this returns.
     */
    @SuppressWarnings("try")  // the scope only collects the temporaries
    public Tensor load(String name, ScalarType target) {
        Args.notNull(target, "target");
        TensorInfo info = info(name);
        if (info.dtype().scalarType() == target) return load(name);
        Tensor out = Tensors.empty(target, new Device(torch.DeviceType.CPU), info.shape());
        try (PointerScope temporaries = new PointerScope()) {
            out.copy_(load(name));
        }
        return out;
    }

    private void readInto(Tensor t, TensorInfo info) {
        if (closed) {
            throw new IllegalStateException(describe() + " is closed; cannot load tensor '" + info.name() + "'");
        }
        if (info.byteSize() == 0) return;
        try {
            ChunkedIo.read(channel, dataOffset + info.begin(), t.data_ptr(), info.byteSize(), chunkBytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tensor '" + info.name() + "' (bytes [" + info.begin() + ", "
                    + info.end() + ") of the data section) from " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String describe() {
        return "safetensors file " + path;
    }

    /** Closes the file; idempotent. Tensors already loaded stay valid. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + describe() + ": " + e, e);
        }
    }

    @Override
    public String toString() {
        return describe() + " (" + IoErrors.count(header.tensors.size(), "tensor") + (closed ? ", closed)" : ")");
    }
}
