package dev.vtprune.io;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Tensors held in memory under names, for tests and for callers that build weights in code.
 * The map is copied (its order kept) but the tensors are not: they stay the caller's, and
 * {@link #close} leaves them alone. {@link #load} returns a CPU copy, as a file would, so a
 * caller may modify or close what it loads without touching the source.
 */
public final class MapTensorSource implements TensorSource {
    private final String description;
    private final Map<String, Tensor> tensors;

    public MapTensorSource(Map<String, Tensor> tensors) {
        this("in-memory tensors", tensors);
    }

    /** `description` is what error messages call this source. */
    public MapTensorSource(String description, Map<String, Tensor> tensors) {
        this.description = Args.notNull(description, "description");
        Args.notNull(tensors, "tensors");
        Map<String, Tensor> copy = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Args.notNull(e.getKey(), "tensor name");
            copy.put(e.getKey(), Args.defined(e.getValue(), "tensors['" + e.getKey() + "']"));
        }
        this.tensors = Collections.unmodifiableMap(copy);
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public Tensor load(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw IoErrors.missing(describe(), name, names());
        return t.is_cpu() ? t.clone() : t.to(new Device(torch.DeviceType.CPU), Tensors.scalarType(t));
    }

    @Override
    public String describe() {
        return description + " (" + IoErrors.count(tensors.size(), "tensor") + ")";
    }

    @Override
    public String toString() {
        return describe();
    }
}
