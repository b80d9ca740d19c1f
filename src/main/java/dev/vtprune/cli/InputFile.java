package dev.vtprune.cli;

import dev.vtprune.io.SafetensorsFile;
import dev.vtprune.io.TensorInfo;
import dev.vtprune.internal.Tensors;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A safetensors input of the command line (--input): checks each tensor's presence, rank and
 * dtype from the file's header before any data is read (a tensor whose header is already wrong
 * is never loaded), then loads it and checks its values, with errors that name the tensor and
 * the file.
 */
final class InputFile implements AutoCloseable {
    private final Path path;
    private final SafetensorsFile file;

    private InputFile(Path path, SafetensorsFile file) {
        this.path = path;
        this.file = file;
    }

    static InputFile open(Path path) {
        if (!Files.exists(path)) throw new IllegalArgumentException("argument '--input': file " + path + " does not exist");
        if (!Files.isRegularFile(path)) throw new IllegalArgumentException("argument '--input': " + path + " is not a file");
        try {
            return new InputFile(path, SafetensorsFile.open(path));
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new IllegalArgumentException("argument '--input': " + e.getMessage(), e);
        }
    }

    boolean has(String name) {
        return file.names().contains(name);
    }

    Set<String> names() {
        return file.names();
    }

    /** The shape of `name` from the header, which must give it rank `rank`; `dims` names the axes. */
    long[] shape(String name, int rank, String dims) {
        TensorInfo info = info(name);
        if (info.shape().length != rank) throw error(name, "must have rank " + rank + " " + dims, describe(info));
        return info.shape();
    }

    /** Fails unless axis `axis` of `name` has at least `min` entries; `what` names the axis. */
    void atLeast(String name, long[] shape, int axis, long min, String what) {
        if (shape[axis] < min) throw error(name, "must have " + what + " >= " + min + " on axis " + axis, Arrays.toString(shape));
    }

    /** A floating tensor (float32, float16 or bfloat16) of the given rank, finite, contiguous. */
    Tensor floating(String name, int rank, String dims) {
        shape(name, rank, dims);
        ScalarType type = info(name).dtype().scalarType();
        if (type != ScalarType.Float && type != ScalarType.Half && type != ScalarType.BFloat16) {
            throw error(name, "must be float32, float16 or bfloat16", describe(info(name)));
        }
        Tensor t = file.load(name);
        if (t.numel() > 0 && !t.isfinite().all().item_bool()) {
            throw error(name, "must hold finite values only", "NaN or infinite entries");
        }
        return t.contiguous();
    }

    /** Attention probabilities: a floating tensor with every entry in [0, 1]. */
    Tensor probabilities(String name, int rank, String dims) {
        Tensor t = floating(name, rank, dims);
        if (t.numel() > 0) {
            double lo = t.min().item_double(), hi = t.max().item_double();
            // 1 + 2^-7 leaves room for bfloat16's rounding of a probability of 1.
            if (lo < 0 || hi > 1 + 0x1p-7) {
                throw error(name, "must hold attention probabilities in [0, 1]", "values in [" + lo + ", " + hi + "]");
            }
        }
        return t;
    }

    /** An integer tensor (int64 or int32) of the given rank, as int64 values on the host. */
    long[] integers(String name, int rank, String dims) {
        shape(name, rank, dims);
        ScalarType type = info(name).dtype().scalarType();
        if (type != ScalarType.Long && type != ScalarType.Int) throw error(name, "must be int64 or int32", describe(info(name)));
        return Tensors.toLongs(file.load(name));
    }

    /** A loaded tensor's shape, for messages. */
    String shapeOf(Tensor t) {
        return java.util.Arrays.toString(t.shape());
    }

    private TensorInfo info(String name) {
        if (!has(name)) {
            String[] names = file.names().stream().sorted().toArray(String[]::new);
            throw new IllegalArgumentException("tensor '" + name + "' is missing from " + path + " (it has: "
                    + (names.length == 0 ? "no tensors" : String.join(", ", names)) + ")");
        }
        return file.info(name);
    }

    private static String describe(TensorInfo info) {
        return Tensors.dtypeName(info.dtype().scalarType()) + Arrays.toString(info.shape());
    }

    IllegalArgumentException error(String name, String expected, String actual) {
        return new IllegalArgumentException("tensor '" + name + "' in " + path + " " + expected + ", got " + actual);
    }

    @Override
    public void close() {
        file.close();
    }
}
