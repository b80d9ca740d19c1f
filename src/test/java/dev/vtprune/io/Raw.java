package dev.vtprune.io;

import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Byte-level helpers for the io tests: files assembled by hand (so the reader is checked against
 * the format itself, not against our writer) and raw access to tensor bytes.
 */
final class Raw {
    private Raw() {}

    /** A safetensors file: the 8-byte little-endian `lengthField`, `header`, then `data`. */
    static Path file(Path path, long lengthField, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(lengthField).put(header).put(data);
        try {
            return Files.write(path, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A well-formed file with the header `json` (UTF-8, length field = its size) and `data`. */
    static Path file(Path path, String json, byte[] data) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        return file(path, header.length, header, data);
    }

    /** Little-endian bytes of values of `width` bytes each (for building data sections by hand). */
    static byte[] le(int width, long... values) {
        ByteBuffer b = ByteBuffer.allocate(width * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            switch (width) {
                case 1: b.put((byte) v); break;
                case 2: b.putShort((short) v); break;
                case 4: b.putInt((int) v); break;
                case 8: b.putLong(v); break;
                default: throw new IllegalArgumentException("width " + width);
            }
        }
        return b.array();
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) b.put(p);
        return b.array();
    }

    /** The bytes of a CPU tensor in row-major order (its contiguous form). */
    static byte[] bytes(Tensor t) {
        Tensor c = t.contiguous();
        byte[] out = new byte[Math.toIntExact(c.nbytes())];
        if (out.length > 0) new BytePointer(c.data_ptr()).capacity(out.length).get(out);
        return out;
    }

    /** A new CPU tensor of `dtype` and `shape` whose memory holds exactly `bytes`. */
    static Tensor tensor(SafetensorsDtype dtype, byte[] bytes, long... shape) {
        Tensor t = Tensors.empty(dtype.scalarType(), new Device(torch.DeviceType.CPU), shape);
        if (t.nbytes() != bytes.length) throw new IllegalArgumentException(t.nbytes() + " != " + bytes.length);
        if (bytes.length > 0) new BytePointer(t.data_ptr()).capacity(bytes.length).put(bytes);
        return t;
    }
}
