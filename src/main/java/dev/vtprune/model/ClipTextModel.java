package dev.vtprune.model;

import com.google.gson.JsonElement;
import dev.vtprune.io.TensorSource;
import dev.vtprune.model.ParamSpec.Init;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * CLIP's text tower (HF {@code CLIPTextModel} plus {@code CLIPModel.text_projection}) for IVTP's
 * pseudo-CLS, and trainable through {@link #textEmbeds} (the task model's CLIP stage trains one) (eq. 5-6): token + position embeddings, causal pre-norm layers
 * ({@code x += out(attn(layer_norm1(x))); x += fc2(quick_gelu(fc1(layer_norm2(x))))}), the final
 * LayerNorm, and the bias-free projection into the joint image-text space.
 *
 * <p>Weights are named by their Hugging Face keys (the canonical name is the key), so the text
 * tower of {@code openai/clip-vit-large-patch14-336} loads from its safetensors as it is; the
 * vision tower's keys in the same file are ignored.
 *
 * <p>{@link #forward} projects <em>every</em> token, not only the EOS one: eq. 6 needs one
 * feature per CLIP text token to compare with the visual CLS, and the projected space is the one
 * CLIP trained to align with images. HF's {@code text_embeds} is the row of the EOS token.
 *
 * <p>Owns its weights ({@link #close()}); concurrent forwards are fine.
 */
public final class ClipTextModel extends WeightOwner {
    public static final String PREFIX = "text_model.";
    static final String PROJECTION = "text_projection.weight";

    /**
     * The shapes of a CLIP text tower.
     *
     * @param maxPositions the position table's length (77): the longest sequence, special tokens included
     * @param projection   the joint space's width ({@code projection_dim})
     */
    public record Config(int vocab, int hidden, int intermediate, int layers, int heads, int maxPositions,
                         int projection, double eps) {
        public Config {
            Args.atLeast(vocab, "vocab", 1);
            Args.atLeast(hidden, "hidden", 1);
            Args.atLeast(intermediate, "intermediate", 1);
            Args.atLeast(layers, "layers", 0);
            Args.atLeast(heads, "heads", 1);
            Args.atLeast(maxPositions, "maxPositions", 1);
            Args.atLeast(projection, "projection", 1);
            if (hidden % heads != 0) throw Args.error("hidden", "be a multiple of heads (" + heads + ")", hidden);
            if (!(eps > 0)) throw Args.error("eps", "be > 0", eps);
        }

        public int headDim() {
            return hidden / heads;
        }

        /** The text tower of openai/clip-vit-large-patch14(-336): LLaVA-1.5's CLIP. */
        public static Config vitL14() {
            return new Config(49408, 768, 3072, 12, 12, 77, 768, 1e-5);
        }

        /**
         * A CLIP {@code config.json}: {@code text_config} (missing fields take CLIPTextConfig's
         * defaults: vocab 49408, hidden 512, intermediate 2048, 12 layers, 8 heads, 77 positions,
         * eps 1e-5) and the top-level {@code projection_dim} (CLIPConfig's default 512).
         * Only quick_gelu is supported.
         */
        public static Config fromHuggingFace(Path configJson) {
            return parse(HfConfig.text(configJson, "CLIP config"), configJson.toString());
        }

        static Config parse(String json, String where) {
            HfConfig.Json root = new HfConfig.Json(HfConfig.object(json, where), where);
            JsonElement tc = root.raw("text_config");
            if (tc == null || !tc.isJsonObject()) {
                root.fail("text_config", "be a JSON object (a CLIPModel config)", tc == null ? "nothing" : tc);
            }
            HfConfig.Json t = root.object("text_config");
            String act = t.string("hidden_act", "quick_gelu");
            if (!act.equals("quick_gelu")) t.fail("hidden_act", "be quick_gelu", act);
            int vocab = t.integer("vocab_size", 49408), hidden = t.integer("hidden_size", 512);
            int intermediate = t.integer("intermediate_size", 2048), layers = t.integer("num_hidden_layers", 12);
            int heads = t.integer("num_attention_heads", 8), positions = t.integer("max_position_embeddings", 77);
            int projection = root.integer("projection_dim", 512);
            double eps = t.number("layer_norm_eps", 1e-5);
            return HfConfig.build(() -> new Config(vocab, hidden, intermediate, layers, heads, positions, projection, eps),
                    t.where(), "vocab", "vocab_size", "hidden", "hidden_size", "intermediate", "intermediate_size",
                    "layers", "num_hidden_layers", "heads", "num_attention_heads", "maxPositions",
                    "max_position_embeddings", "projection", "projection_dim (top level)", "eps", "layer_norm_eps");
        }
    }

    /**
     * One text's features; closes both.
     *
     * @param hidden   [T, hidden] after the final LayerNorm (HF's last_hidden_state)
     * @param features [T, projection] text_projection of every row of hidden
     */
    public record Output(Tensor hidden, Tensor features) implements AutoCloseable {
        @Override
        public void close() {
            Tensors.closeAll(hidden, features);
        }
    }

    private final Config cfg;
    private final Tensor tokenEmbedding, positionEmbedding;
    private final Layer[] layers;
    private final LayerNorm finalNorm;
    private final Linear projection;

    private ClipTextModel(Config cfg, Params params) {
        super("ClipTextModel", params);
        this.cfg = cfg;
        tokenEmbedding = params.get(PREFIX + "embeddings.token_embedding.weight");
        positionEmbedding = params.get(PREFIX + "embeddings.position_embedding.weight");
        layers = new Layer[cfg.layers()];
        for (int i = 0; i < layers.length; i++) {
            String l = layer(i);
            layers[i] = new Layer(LayerNorm.of(params, l + "layer_norm1", cfg.eps()),
                    Linear.of(params, l + "self_attn.q_proj", true), Linear.of(params, l + "self_attn.k_proj", true),
                    Linear.of(params, l + "self_attn.v_proj", true), Linear.of(params, l + "self_attn.out_proj", true),
                    LayerNorm.of(params, l + "layer_norm2", cfg.eps()),
                    new Mlp(Linear.of(params, l + "mlp.fc1", true), Activation.QUICK_GELU,
                            Linear.of(params, l + "mlp.fc2", true)), cfg.heads(), cfg.headDim());
        }
        finalNorm = LayerNorm.of(params, PREFIX + "final_layer_norm", cfg.eps());
        projection = new Linear(params.get(PROJECTION), null);
    }

    static String layer(int i) {
        return PREFIX + "encoder.layers." + i + ".";
    }

    /** The weights of `cfg` under their HF keys, in load order. */
    static List<ParamSpec> params(Config cfg) {
        long h = cfg.hidden(), m = cfg.intermediate();
        List<ParamSpec> s = new ArrayList<>();
        s.add(spec(PREFIX + "embeddings.token_embedding.weight", Init.EMBEDDING, -1, cfg.vocab(), h));
        s.add(spec(PREFIX + "embeddings.position_embedding.weight", Init.EMBEDDING, -1, cfg.maxPositions(), h));
        for (int i = 0; i < cfg.layers(); i++) {
            String l = layer(i);
            for (String p : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                s.add(spec(l + "self_attn." + p + ".weight", Init.LINEAR, i, h, h));
                s.add(spec(l + "self_attn." + p + ".bias", Init.BIAS, i, h));
            }
            for (String n : new String[] {"layer_norm1", "layer_norm2"}) {
                s.add(spec(l + n + ".weight", Init.NORM_WEIGHT, i, h));
                s.add(spec(l + n + ".bias", Init.NORM_BIAS, i, h));
            }
            s.add(spec(l + "mlp.fc1.weight", Init.LINEAR, i, m, h));
            s.add(spec(l + "mlp.fc1.bias", Init.BIAS, i, m));
            s.add(spec(l + "mlp.fc2.weight", Init.LINEAR, i, h, m));
            s.add(spec(l + "mlp.fc2.bias", Init.BIAS, i, h));
        }
        s.add(spec(PREFIX + "final_layer_norm.weight", Init.NORM_WEIGHT, -1, h));
        s.add(spec(PREFIX + "final_layer_norm.bias", Init.NORM_BIAS, -1, h));
        s.add(spec(PROJECTION, Init.LINEAR, -1, cfg.projection(), h));
        return s;
    }

    private static ParamSpec spec(String name, Init init, int layer, long... shape) {
        return new ParamSpec(name, shape, init, "clip_text", layer);
    }

    /**
     * Seeded random weights (the initialisation of {@link RandomWeights}) so that presets without
     * a checkpoint run the whole IVTP path. Same seed, config and dtype give the same tower.
     */
    public static ClipTextModel random(Config cfg, long seed, ScalarType dtype) {
        Args.notNull(cfg, "cfg");
        ScalarType type = RandomWeights.checkDtype(dtype);
        Generator generator = Scope.unscoped(() -> torch.createCPUGenerator(seed));
        try {
            return new ClipTextModel(cfg, Params.build(params(cfg),
                    s -> Scope.unscoped(() -> RandomWeights.draw(s, generator, type))));
        } finally {
            generator.close();
        }
    }

    /**
     * The text tower from a CLIP checkpoint (e.g. the model.safetensors of
     * openai/clip-vit-large-patch14-336 through {@link dev.vtprune.io.SafetensorsCheckpoint}).
     * Every key is checked present before any is read; shapes are checked per key; the stored
     * dtype is converted to `dtype`.
     */
    public static ClipTextModel load(Config cfg, TensorSource source, ScalarType dtype) {
        Args.notNull(cfg, "cfg");
        Args.notNull(source, "source");
        ScalarType type = RandomWeights.checkDtype(dtype);
        List<ParamSpec> specs = params(cfg);
        List<String> missing = specs.stream().map(ParamSpec::name).filter(n -> !source.contains(n)).toList();
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("checkpoint " + source.describe() + " lacks " + missing.size() + " of the "
                    + specs.size() + " CLIP text tower tensors, e.g. "
                    + String.join(", ", missing.subList(0, Math.min(ModelLoader.MISSING_SHOWN, missing.size()))));
        }
        return new ClipTextModel(cfg, Params.build(specs, s -> read(source, s, type)));
    }

    /** One checked, converted weight, detached from the temporaries of reading it. */
    static Tensor read(TensorSource source, ParamSpec s, ScalarType dtype) {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = source.load(s.name());
            if (!Arrays.equals(t.shape(), s.shape())) {
                throw new IllegalArgumentException("tensor '" + s.name() + "' in " + source.describe() + " has shape "
                        + Arrays.toString(t.shape()) + ", but the CLIP config expects " + Arrays.toString(s.shape()));
            }
            if (!t.is_floating_point()) {
                throw new IllegalArgumentException("tensor '" + s.name() + "' in " + source.describe() + " is "
                        + Tensors.describe(t) + "; expected a floating-point checkpoint");
            }
            Tensor w = t.to(dtype).contiguous();
            w.retainReference();
            scope.detach(w);
            return w;
        }
    }

    /**
     * @param ids CLIP token ids of one text, start and end tokens included (see
     *            {@code dev.vtprune.pipeline.ClipText} for the 77-token truncation); 1 to
     *            maxPositions of them, each in [0, vocab)
     */
    public Output forward(long[] ids) {
        closing.check();
        checkIds(ids, "ids");
        int n = ids.length;
        try (Scope scope = Scope.noGrad()) {
            Tensor index = Tensors.longs(tokenEmbedding.device(), ids);
            Tensor x = torch.embedding(tokenEmbedding, index).add(positionEmbedding.narrow(0, 0, n)).unsqueeze(0);
            for (Layer layer : layers) x = layer.forward(x);
            Tensor hidden = finalNorm.apply(x).squeeze(0);
            Tensor features = projection.apply(hidden);
            return new Output(scope.keep(hidden.contiguous()), scope.keep(features.contiguous()));
        }
    }

    /**
     * HF {@code CLIPModel.get_text_features} for a batch: {@code text_projection} of each text's
     * EOS state (its last token: CLIP's end token closes every encoding), [N, projection], not
     * normalised. The texts are right-padded into one [N, L] batch; under the causal mask a
     * token never sees the padding after it, so every row equals its own unpadded forward.
     * Records the autograd graph under {@link Training#enable()} (CLIP training), unlike
     * {@link #forward}'s per-token features, which IVTP reads at inference.
     *
     * @param ids per text its CLIP token ids, start and end tokens included; 1 to maxPositions each
     */
    public Tensor textEmbeds(long[][] ids) {
        closing.check();
        Args.notNull(ids, "ids");
        Args.atLeast(ids.length, "ids.length", 1);
        int n = ids.length, max = 0;
        for (int i = 0; i < n; i++) {
            checkIds(ids[i], "ids[" + i + "]");
            max = Math.max(max, ids[i].length);
        }
        long[] flat = new long[n * max], last = new long[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(ids[i], 0, flat, i * max, ids[i].length);  // padded with id 0: never attended to
            last[i] = (long) i * max + ids[i].length - 1;
        }
        try (Scope scope = Scope.noGrad()) {
            Device device = tokenEmbedding.device();
            Tensor x = torch.embedding(tokenEmbedding, Tensors.longs(device, flat).view(n, max))
                    .add(positionEmbedding.narrow(0, 0, max));
            for (Layer layer : layers) x = layer.forward(x);
            Tensor eos = finalNorm.apply(x).reshape((long) n * max, cfg.hidden()).index_select(0, Tensors.longs(device, last));
            return scope.keep(projection.apply(eos));
        }
    }

    private void checkIds(long[] ids, String name) {
        Args.notNull(ids, name);
        if (ids.length < 1 || ids.length > cfg.maxPositions()) {
            throw Args.error(name + ".length", "be in [1, " + cfg.maxPositions() + "] (CLIP's position table)", ids.length);
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= cfg.vocab()) throw Args.error(name + "[" + i + "]", "be in [0, " + cfg.vocab() + ")", ids[i]);
        }
    }

    public Config config() {
        closing.check();
        return cfg;
    }

    /** One causal pre-norm layer of CLIP's text encoder; x is [B, T, hidden]. */
    private record Layer(LayerNorm norm1, Linear q, Linear k, Linear v, Linear out, LayerNorm norm2, Mlp mlp,
                         int heads, int headDim) {
        Tensor forward(Tensor x) {
            long b = x.size(0), n = x.size(1), hidden = x.size(2);
            Tensor a = norm1.apply(x);
            Tensor qh = split(q.apply(a), b, n), kh = split(k.apply(a), b, n), vh = split(v.apply(a), b, n);
            // is_causal: CLIP's text mask (token i sees 0..i); scale 1/sqrt(headDim) as HF's.
            Tensor attn = torch.scaled_dot_product_attention(qh, kh, vh, new TensorOptional(), 0.0, true,
                    new DoubleOptional(), false);
            Tensor h = x.add(out.apply(attn.transpose(1, 2).reshape(b, n, hidden)));
            return h.add(mlp.apply(norm2.apply(h)));
        }

        private Tensor split(Tensor t, long b, long n) {
            return t.view(b, n, heads, headDim).transpose(1, 2);
        }
    }
}
