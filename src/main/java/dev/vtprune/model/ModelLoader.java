package dev.vtprune.model;

import dev.vtprune.io.TensorSource;
import dev.vtprune.model.CheckpointLayout.Part;
import dev.vtprune.model.CheckpointLayout.Recipe;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Loads a real Hugging Face checkpoint (InternVL2-1B/2B, llava-hf LLaVA-1.5 in either layout;
 * see {@link CheckpointLayout} for the key names) into an {@link Lvlm}.
 *
 * <p>Before reading any tensor it checks that every key the config needs is present, and fails
 * with one IllegalArgumentException listing the first missing keys, how many there are, and
 * the source. Each tensor's shape is then checked against the config (the message names the
 * key, the expected and the actual shape) and converted from its stored dtype (bf16, fp16,
 * fp32...) to the run dtype. A config with a tied head (tie_word_embeddings) gets the token
 * embeddings as its head, announced through `progress`; otherwise a missing head is a missing key. Keys the model does not use (e.g. CLIP's 24th layer
 * and post-layernorm, which LLaVA-1.5 never runs) are ignored.
 *
 * <p>Weights are packed at load time (q/k/v, gate/up, InternLM2's wqkv), so a checkpoint tensor
 * may be copied once; peak memory is about the model plus the largest layer.
 */
public final class ModelLoader {
    private ModelLoader() {}

    /** Missing keys named in the error message. */
    static final int MISSING_SHOWN = 5;

    /**
     * @param config   shapes and family (e.g. {@link ModelConfig#fromHuggingFace} of the checkpoint's config.json)
     * @param source   the checkpoint's tensors; where no conversion or packing is needed a weight
     *                 is a handle on the tensor the source returned, which therefore must own its
     *                 memory (as TensorSource promises) rather than borrow a mapping it unmaps on close
     * @param dtype    run dtype: Float, BFloat16 or Half
     * @param progress receives one line per step ("vision 6/24", "language 12/24"...); may be null
     */
    public static Lvlm load(ModelConfig config, TensorSource source, ScalarType dtype, Consumer<String> progress) {
        Args.notNull(config, "config");
        Args.notNull(source, "source");
        ScalarType type = RandomWeights.checkDtype(dtype);
        Consumer<String> say = progress == null ? s -> { } : progress;
        CheckpointLayout layout = CheckpointLayout.detect(config, source);
        List<ParamSpec> specs = Lvlm.params(config);
        Map<String, Recipe> recipes = new HashMap<>();
        for (ParamSpec s : specs) recipes.put(s.name(), layout.recipe(s));
        checkKeys(config, source, layout, specs, recipes);
        say.accept("checkpoint " + source.describe() + ": " + layout.description);

        Map<String, Tensor> made = new HashMap<>();
        Progress steps = new Progress(config, say);
        Lvlm model = Lvlm.build(config, type, spec -> {
            Recipe r = recipes.get(spec.name());
            Tensor t;
            if (r.fallback() != null) {
                t = made.get(r.fallback());
                String key = r.parts().get(0).key();
                say.accept("language head: tied to the token embeddings (tie_word_embeddings)"
                        + (source.contains(key) ? "; the checkpoint's '" + key + "' is not used"
                        : ", no '" + key + "' in the checkpoint"));
            } else {
                t = read(source, r, type, config);  // allocated in, and detached from, read's own scope
            }
            made.put(spec.name(), t);
            steps.after(spec);
            return t;
        });
        steps.finish();
        return model;
    }

    /** Every needed key present, or one message naming the first few missing. */
    private static void checkKeys(ModelConfig config, TensorSource source, CheckpointLayout layout,
                                  List<ParamSpec> specs, Map<String, Recipe> recipes) {
        Set<String> names = source.names();
        Set<String> needed = new LinkedHashSet<>();
        List<String> missing = new ArrayList<>();
        for (ParamSpec s : specs) {
            Recipe r = recipes.get(s.name());
            for (Part p : r.parts()) {
                needed.add(p.key());
                if (!names.contains(p.key()) && r.fallback() == null) missing.add(p.key());
            }
        }
        if (!missing.isEmpty()) {
            Set<String> unused = new TreeSet<>(names);
            unused.removeAll(needed);
            StringBuilder msg = new StringBuilder("checkpoint ").append(source.describe()).append(" lacks ")
                    .append(missing.size()).append(" of the ").append(needed.size()).append(" tensors that model '")
                    .append(config.name()).append("' (").append(config.family()).append(", ").append(layout.description)
                    .append(") needs: ")
                    .append(String.join(", ", missing.subList(0, Math.min(MISSING_SHOWN, missing.size()))));
            if (missing.size() > MISSING_SHOWN) {
                msg.append(" and ").append(missing.size() - MISSING_SHOWN).append(" more");
            }
            if (!unused.isEmpty()) {
                msg.append("; it has ").append(unused.size()).append(" tensors the model does not use, e.g. ")
                        .append(String.join(", ", unused.stream().limit(MISSING_SHOWN).toList()));
            }
            throw new IllegalArgumentException(msg.toString());
        }
        for (String key : layout.unexpectedFeatureKeys()) {
            if (names.contains(key)) {
                throw new IllegalArgumentException("checkpoint " + source.describe() + " has '" + key
                        + "' but model config '" + config.name()
                        + "' says the decoder has no q/k/v biases (qkvBias = false); they would be ignored");
            }
        }
    }

    /** Reads, checks, converts and combines the parts of one weight; temporaries freed. */
    private static Tensor read(TensorSource source, Recipe r, ScalarType dtype, ModelConfig config) {
        try (PointerScope scope = new PointerScope()) {
            List<Tensor> parts = new ArrayList<>();
            for (Part p : r.parts()) {
                Tensor t = source.load(p.key());
                if (!Arrays.equals(t.shape(), p.shape())) {
                    throw new IllegalArgumentException("tensor '" + p.key() + "' in " + source.describe()
                            + " has shape " + Arrays.toString(t.shape()) + ", but model '" + config.name()
                            + "' expects " + Arrays.toString(p.shape()));
                }
                if (!t.is_floating_point()) {
                    throw new IllegalArgumentException("tensor '" + p.key() + "' in " + source.describe() + " is "
                            + Tensors.describe(t) + "; expected a floating-point checkpoint (bf16, fp16 or fp32)");
                }
                parts.add(t.to(dtype));
            }
            Tensor w = r.combine().apply(parts).contiguous();
            w.retainReference();
            scope.detach(w);
            return w;
        }
    }

    /** "vision 6/24"-style messages after every quarter of a module's layers, and per module end. */
    private static final class Progress {
        private final Map<String, Integer> layers = new HashMap<>();
        private final Consumer<String> say;
        private String group = null;
        private int layer = -1;

        Progress(ModelConfig config, Consumer<String> say) {
            this.say = say;
            layers.put("vision", config.vision().layers());
            layers.put("language", config.language().layers());
        }

        void after(ParamSpec spec) {
            if (!spec.group().equals(group) && group != null) finish();
            if (spec.group().equals(group) && spec.layer() != layer) layerDone();
            group = spec.group();
            layer = spec.layer();
        }

        /** A new layer started, so the previous one is loaded. */
        private void layerDone() {
            if (layer < 0) return;
            int total = layers.getOrDefault(group, 0), done = layer + 1, step = Math.max(1, Math.round(total / 4f));
            if (done % step == 0 && done < total) say.accept(group + " " + done + "/" + total);
        }

        void finish() {
            Integer total = layers.get(group);
            say.accept(total == null ? group + " done" : group + " " + total + "/" + total);
        }
    }
}
