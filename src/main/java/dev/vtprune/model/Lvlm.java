package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A whole vision-language model: vision encoder, projector and decoder LM of one
 * {@link ModelConfig}, with weights in one dtype. Made by {@link RandomWeights#create} or
 * {@link ModelLoader#load}; {@link #close()} frees every weight (idempotent). The modules are
 * separate so that a pipeline can run them one by one and prune in between. Weights are made on
 * the CPU; the forwards run on the device of the weights and move their inputs there.
 */
public final class Lvlm implements AutoCloseable {
    private final Closing closing = new Closing("Lvlm");
    private final ModelConfig config;
    private final ScalarType dtype;
    private final VisionEncoder vision;
    private final Projector projector;
    private final LanguageModel language;

    private Lvlm(ModelConfig config, ScalarType dtype, VisionEncoder vision, Projector projector,
                 LanguageModel language) {
        this.config = config;
        this.dtype = dtype;
        this.vision = vision;
        this.projector = projector;
        this.language = language;
    }

    /** Every weight of `config`, canonical names, in load order: vision, projector, language. */
    static List<ParamSpec> params(ModelConfig config) {
        List<ParamSpec> all = new ArrayList<>(VisionEncoder.params(config));
        all.addAll(Projector.params(config));
        all.addAll(LanguageModel.params(config));
        return all;
    }

    /**
     * Builds the modules, making each weight with `make` (an unscoped tensor of the declared
     * shape in `dtype`). Frees everything made so far if any weight fails.
     */
    static Lvlm build(ModelConfig config, ScalarType dtype, Function<ParamSpec, Tensor> make) {
        List<AutoCloseable> made = new ArrayList<>();
        try {
            Params vp = track(made, Params.build(VisionEncoder.params(config), make));
            VisionEncoder vision = new VisionEncoder(config, vp);
            Params pp = track(made, Params.build(Projector.params(config), make));
            Projector projector = new Projector(config, pp);
            Params lp = track(made, Params.build(LanguageModel.params(config), make));
            LanguageModel language = new LanguageModel(config, lp);
            return new Lvlm(config, dtype, vision, projector, language);
        } catch (RuntimeException | Error e) {
            for (AutoCloseable c : made) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static Params track(List<AutoCloseable> made, Params p) {
        made.add(p);
        return p;
    }

    public ModelConfig config() {
        closing.check();
        return config;
    }

    /** The element type of every weight and of the modules' outputs (logits are float32). */
    public ScalarType dtype() {
        closing.check();
        return dtype;
    }

    public VisionEncoder vision() {
        closing.check();
        return vision;
    }

    public Projector projector() {
        closing.check();
        return projector;
    }

    public LanguageModel language() {
        closing.check();
        return language;
    }

    /** Every weight by canonical name ("vision.layers.0.attn.qkv.weight"...), read-only. */
    public Map<String, Tensor> weights() {
        closing.check();
        Map<String, Tensor> all = new LinkedHashMap<>(vision.weights());
        all.putAll(projector.weights());
        all.putAll(language.weights());
        return Collections.unmodifiableMap(all);
    }

    /**
     * A copy of this model with every weight on `device` (a CUDA device needs LibTorch's CUDA
     * natives); the forwards then run there. This model stays as it is.
     */
    public Lvlm to(org.bytedeco.pytorch.Device device) {
        closing.check();
        Map<String, Tensor> all = weights();
        Map<Tensor, Tensor> moved = new java.util.IdentityHashMap<>();  // a tied head moves once
        return build(config, dtype, spec -> moved.computeIfAbsent(all.get(spec.name()),
                w -> Scope.unscoped(() -> w.to(device, dtype))));
    }

    /** Total number of weight elements (a tied LM head counted once). */
    public long parameterCount() {
        closing.check();
        Map<Tensor, Boolean> seen = new java.util.IdentityHashMap<>();
        long n = 0;
        for (Tensor t : weights().values()) if (seen.put(t, Boolean.TRUE) == null) n += t.numel();
        return n;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        vision.close();
        projector.close();
        language.close();
    }
}
