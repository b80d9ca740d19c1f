package dev.vtprune.io;

import java.util.Set;
import org.bytedeco.pytorch.Tensor;

/**
 * Named tensors to read from: a safetensors file, a sharded Hugging Face checkpoint, or a map
 * built in memory (tests). Loading a name that is absent is an IllegalArgumentException that
 * names the key and the source.
 */
public interface TensorSource extends AutoCloseable {
    /** Every tensor name. */
    Set<String> names();

    default boolean contains(String name) {
        return names().contains(name);
    }

    /** The tensor called `name`, as stored (dtype and shape), in CPU memory it owns. */
    Tensor load(String name);

    /** Where the tensors come from, for error messages ("model.safetensors", "3 shards in dir"). */
    String describe();

    @Override
    default void close() {}
}
