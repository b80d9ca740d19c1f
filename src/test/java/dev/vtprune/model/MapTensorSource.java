package dev.vtprune.model;

import dev.vtprune.io.TensorSource;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Tensor;

/** A TensorSource over an in-memory map, as a checkpoint reader would behave: each load is a fresh copy. */
final class MapTensorSource implements TensorSource {
    private final Map<String, Tensor> tensors;
    private final String name;
    final Set<String> loaded = new LinkedHashSet<>();

    MapTensorSource(Map<String, Tensor> tensors, String name) {
        this.tensors = new LinkedHashMap<>(tensors);
        this.name = name;
    }

    @Override
    public Set<String> names() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    @Override
    public Tensor load(String key) {
        Tensor t = tensors.get(key);
        if (t == null) throw new IllegalArgumentException("no tensor '" + key + "' in " + describe());
        loaded.add(key);
        return t.clone();
    }

    @Override
    public String describe() {
        return name + " (" + tensors.size() + " tensors in memory)";
    }
}
