package dev.vtprune.cli;

import dev.vtprune.io.SafetensorsFile;
import dev.vtprune.io.TensorSource;
import dev.vtprune.ops.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A safetensors input of the command line: loads tensors by name and checks rank, dtype and
 * finiteness, with errors that name the tensor and the file.
 */
final class InputFile implements AutoCloseable {
    private final Path path;
    private final TensorSource source;

    private InputFile(Path path, TensorSource source) {
        this.path = path;
        this.source = source;
    }

    static InputFile open(Path path) {
        if (!Files.exists(path)) throw new IllegalArgumentException("input file " + path + " does not exist");
        if (!Files.isRegularFile(path)) throw new IllegalArgumentException("input " + path + " is not a file");
        return new InputFile(path, SafetensorsFile.open(path));
    }

    boolean has(String name) {
        return source.contains(name);
    }

    /** A floating tensor (float32, float16 or bfloat16) of the given rank; `dims` names its axes. */
    Tensor floating(String name, int rank, String dims) {
        Tensor t = load(name, rank, dims);
        ScalarType type = Tensors.scalarType(t);
        if (type != ScalarType.Float && type != ScalarType.Half && type != ScalarType.BFloat16) {
            throw error(name, "must be float32, float16 or bfloat16", Tensors.describe(t));
        }
        if (t.numel() > 0 && !t.isfinite().all().item_bool()) {
            throw error(name, "must hold finite values only", "NaN or infinite entries");
        }
        return t.contiguous();
    }

    /** An integer tensor of the given rank, as int64. */
    Tensor integers(String name, int rank, String dims) {
        Tensor t = load(name, rank, dims);
        ScalarType type = Tensors.scalarType(t);
        if (type != ScalarType.Long && type != ScalarType.Int) throw error(name, "must be int64 or int32", Tensors.describe(t));
        return t.to(ScalarType.Long).contiguous();
    }

    private Tensor load(String name, int rank, String dims) {
        if (!source.contains(name)) {
            String[] names = source.names().stream().sorted().toArray(String[]::new);
            throw new IllegalArgumentException("tensor '" + name + "' is missing from " + path + " (it has: "
                    + (names.length == 0 ? "no tensors" : String.join(", ", names)) + ")");
        }
        Tensor t = source.load(name);
        if (t.dim() != rank) throw error(name, "must have rank " + rank + " " + dims, Tensors.describe(t));
        return t;
    }

    IllegalArgumentException error(String name, String expected, String actual) {
        return new IllegalArgumentException("tensor '" + name + "' in " + path + " " + expected + ", got " + actual);
    }

    String shapeOf(Tensor t) {
        return Arrays.toString(t.shape());
    }

    @Override
    public void close() {
        source.close();
    }
}
