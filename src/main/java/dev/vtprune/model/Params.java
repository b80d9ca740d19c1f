package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;

/**
 * The weights of one module by canonical name. Owns them: {@link #close()} frees every one
 * (a tensor stored under two names, a tied LM head, is freed once). The tensors must have been
 * allocated outside of any PointerScope ({@link Scope#unscoped}), or they would die with it.
 */
final class Params implements AutoCloseable {
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    private Params() {}

    /**
     * Makes every declared weight with `make` (which returns an unscoped tensor, or one already
     * made for an earlier spec to share it) and checks its shape against the declaration. On
     * failure frees what was made and rethrows.
     */
    static Params build(List<ParamSpec> specs, Function<ParamSpec, Tensor> make) {
        Params p = new Params();
        try {
            for (ParamSpec s : specs) {
                Tensor t = make.apply(s);
                if (!Arrays.equals(t.shape(), s.shape())) {
                    Tensors.closeAll(t);
                    throw new IllegalStateException("weight '" + s.name() + "' was made with shape "
                            + Arrays.toString(t.shape()) + ", declared " + Arrays.toString(s.shape()));
                }
                if (p.tensors.putIfAbsent(s.name(), t) != null) {
                    throw new IllegalStateException("weight '" + s.name() + "' declared twice");
                }
            }
            return p;
        } catch (RuntimeException | Error e) {
            p.close();
            throw e;
        }
    }

    /** The weight called name; its absence is a bug in the module's declarations. */
    Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalStateException("no weight '" + name + "' among " + tensors.size() + " weights");
        return t;
    }

    boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** Read-only view by canonical name, in declaration order. */
    Map<String, Tensor> view() {
        return Collections.unmodifiableMap(tensors);
    }

    @Override
    public void close() {
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        for (Tensor t : tensors.values()) {
            if (seen.put(t, Boolean.TRUE) == null) Tensors.closeAll(t);
        }
    }
}
