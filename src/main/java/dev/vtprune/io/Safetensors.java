package dev.vtprune.io;

import static dev.vtprune.io.IoErrors.invalid;

import com.google.gson.stream.JsonWriter;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Writes safetensors files that the Python and Rust implementations read: tensors in the order
 * of the given map, laid out back to back from offset 0 of the data section, the JSON header
 * padded with spaces so that the data starts at a multiple of 8 bytes (aligned loads for every
 * dtype when a reader maps the file).
 *
 * <p>The write is atomic: bytes go to a temporary file in the target's directory, are forced to
 * disk, and the temporary is renamed over the target, so a reader sees the old file or the
 * complete new one, never a partial one; on failure the temporary is removed and the target is
 * untouched. Tensors may live on any device, in any layout: each is copied to contiguous CPU
 * memory just before its bytes are written, one at a time, so at most one tensor's copy is alive.
 */
public final class Safetensors {
    private Safetensors() {}

    /** Writes `tensors` (and no metadata) to `path`. */
    public static void write(Path path, Map<String, Tensor> tensors) {
        write(path, tensors, Map.of());
    }

    /**
     * Writes `tensors` in map order and `metadata` (may be null or empty: then no
     * {@code __metadata__} entry) to `path`, replacing any file there. Dtypes: those of
     * {@link SafetensorsDtype}; anything else is an IllegalArgumentException naming the tensor.
     */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        write(path, tensors, metadata, ChunkedIo.DEFAULT_CHUNK_BYTES);
    }

    /** As {@link #write(Path, Map, Map)} with the largest single write set to `chunkBytes` (for tests). */
    static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata, int chunkBytes) {
        Args.notNull(path, "path");
        Args.notNull(tensors, "tensors");
        Map<String, String> meta = metadata == null ? Map.of() : metadata;
        List<TensorInfo> layout = layout(tensors, "safetensors output " + path);
        byte[] header = header(layout, meta, "safetensors output " + path);

        Path target = path.toAbsolutePath();
        Path tmp = null;
        try {
            tmp = createTemp(target);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer length = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                ChunkedIo.writeFully(ch, length.putLong(0, header.length));
                ChunkedIo.writeFully(ch, ByteBuffer.wrap(header));
                for (TensorInfo info : layout) writeData(ch, tensors.get(info.name()), info, chunkBytes);
                ch.force(true);
            }
            move(tmp, target);
            tmp = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write safetensors file " + path + ": " + e, e);
        } finally {
            if (tmp != null) deleteQuietly(tmp);
        }
    }

    /** Checks every entry and assigns consecutive byte ranges in map order. */
    private static List<TensorInfo> layout(Map<String, Tensor> tensors, String where) {
        List<TensorInfo> layout = new ArrayList<>(tensors.size());
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name == null || name.equals(SafetensorsHeader.METADATA_KEY)) {
                throw invalid(where, "tensor name", "be a string other than " + SafetensorsHeader.METADATA_KEY,
                        name == null ? "null" : "'" + name + "'");
            }
            Tensor t = e.getValue();
            if (t == null || t.isNull() || !t.defined()) {
                throw invalid(where, "tensor '" + name + "'", "be a defined tensor", Tensors.describe(t));
            }
            SafetensorsDtype dtype = SafetensorsDtype.fromScalarType(Tensors.scalarType(t));
            if (dtype == null) {
                throw invalid(where, "tensor '" + name + "'", "have a dtype safetensors stores ("
                        + SafetensorsDtype.supportedNames() + ")", Tensors.describe(t));
            }
            long[] shape = t.shape();
            long bytes = t.numel() * dtype.elementSize();
            layout.add(new TensorInfo(name, dtype, shape, offset, offset + bytes));
            offset += bytes;
        }
        return layout;
    }

    /**
     * The header bytes: JSON with {@code __metadata__} first (when not empty) and the tensors in
     * layout order, padded with spaces to a multiple of 8 bytes.
     */
    static byte[] header(List<TensorInfo> layout, Map<String, String> metadata, String where) {
        for (Map.Entry<String, String> m : metadata.entrySet()) {
            if (m.getKey() == null || m.getValue() == null) {
                throw invalid(where, "metadata", "map strings to strings", "a null key or value: " + m);
            }
        }
        StringWriter text = new StringWriter();
        try (JsonWriter w = new JsonWriter(text)) {
            w.setHtmlSafe(false);
            w.beginObject();
            if (!metadata.isEmpty()) {
                w.name(SafetensorsHeader.METADATA_KEY).beginObject();
                for (Map.Entry<String, String> m : metadata.entrySet()) w.name(m.getKey()).value(m.getValue());
                w.endObject();
            }
            for (TensorInfo t : layout) {
                w.name(t.name()).beginObject();
                w.name("dtype").value(t.dtype().name());
                w.name("shape").beginArray();
                for (long d : t.shape()) w.value(d);
                w.endArray();
                w.name("data_offsets").beginArray().value(t.begin()).value(t.end()).endArray();
                w.endObject();
            }
            w.endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);  // a StringWriter does not fail
        }
        byte[] json = text.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) / 8 * 8);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    @SuppressWarnings("try")  // the scope only collects the temporaries
    private static void writeData(FileChannel ch, Tensor t, TensorInfo info, int chunkBytes) throws IOException {
        if (info.byteSize() == 0) return;
        try (PointerScope temporaries = new PointerScope()) {
            Tensor cpu = t.to(new Device(torch.DeviceType.CPU), info.dtype().scalarType()).contiguous();
            ChunkedIo.write(ch, cpu.data_ptr(), info.byteSize(), chunkBytes);
        }
    }

    /**
     * A new empty file next to `target` (same directory, so the final rename stays on one file
     * system), created with the default permissions a plain file gets (Files.createTempFile would
     * make it owner-only, and the rename would carry that over).
     */
    private static Path createTemp(Path target) throws IOException {
        Path dir = target.getParent();
        String base = "." + target.getFileName() + ".";
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve(base + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                Files.newByteChannel(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 8) throw e;
            }
        }
    }

    private static void move(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // The write already failed; that error is the one to report.
        }
    }
}
