package dev.vtprune.model;

import dev.vtprune.io.TensorSource;
import dev.vtprune.model.ModelConfig.Family;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * How a Hugging Face checkpoint names and shapes the weights of each family, i.e. the map from
 * the model's canonical weights ({@link ParamSpec}) to checkpoint tensors:
 * <ul>
 * <li>InternVL2 (remote-code InternVLChatModel): {@code vision_model.*}, {@code mlp1.{0,1,3}.*},
 *     {@code language_model.model.*} and {@code language_model.output.weight} (InternLM2) or
 *     {@code language_model.lm_head.weight} (Qwen2).</li>
 * <li>llava-hf LLaVA-1.5, legacy layout (as on the Hub): {@code vision_tower.vision_model.*},
 *     {@code multi_modal_projector.*}, {@code language_model.model.*},
 *     {@code language_model.lm_head.weight}.</li>
 * <li>llava-hf as transformers >= 4.52 saves it: {@code model.vision_tower.vision_model.*},
 *     {@code model.multi_modal_projector.*}, {@code model.language_model.*} (no inner
 *     {@code model.}), {@code lm_head.weight}.</li>
 * </ul>
 * Packing done here: CLIP's q/k/v and Llama/Qwen2's q/k/v (weights and biases) concatenated,
 * q first; gate and up (InternLM2 w1 and w3) concatenated; InternLM2's {@code wqkv}, whose
 * rows are grouped per kv head as [Hq/Hkv query heads, 1 key head, 1 value head] x head_dim
 * ({@code rearrange(w, "(h gs d) i -> h gs d i", gs = 2 + Hq/Hkv)}), reordered to [q; k; v].
 */
final class CheckpointLayout {
    /** One checkpoint tensor and the shape the config implies for it. */
    record Part(String key, long[] shape) {}

    /**
     * The checkpoint tensors a canonical weight is made of and how (parts arrive shape-checked).
     * A recipe with a fallback is that other canonical weight (a tied LM head: the checkpoint's
     * head tensor, if any, is not read, as Hugging Face's tie_weights() replaces it).
     */
    record Recipe(List<Part> parts, Function<List<Tensor>, Tensor> combine, String fallback) {}

    private static final String[] QKV = {"q", "k", "v"};

    final String description;
    private final ModelConfig config;
    private final String vision, projector, language, head;

    private CheckpointLayout(ModelConfig config, String description, String vision, String projector, String language,
                             String head) {
        this.config = config;
        this.description = description;
        this.vision = vision;
        this.projector = projector;
        this.language = language;
        this.head = head;
    }

    /** The layout of `source` for `config`'s family; LLaVA's two layouts are told apart by their keys. */
    static CheckpointLayout detect(ModelConfig config, TensorSource source) {
        if (config.family() != Family.LLAVA) {
            String head = config.family() == Family.INTERNVL_INTERNLM2 ? "language_model.output.weight"
                    : "language_model.lm_head.weight";
            return new CheckpointLayout(config, "InternVL2 (vision_model.*, mlp1.*, language_model.*)", "vision_model.",
                    "mlp1.", "language_model.model.", head);
        }
        boolean modern = false, legacy = false;
        for (String name : source.names()) {
            modern |= name.startsWith("model.language_model.") || name.startsWith("model.vision_tower.");
            legacy |= name.startsWith("language_model.model.") || name.startsWith("vision_tower.");
        }
        if (modern && legacy) {
            throw new IllegalArgumentException("checkpoint " + source.describe() + " mixes the legacy llava-hf "
                    + "layout (language_model.model.*, vision_tower.*) with the transformers >= 4.52 one "
                    + "(model.language_model.*)");
        }
        if (modern) {
            return new CheckpointLayout(config, "llava-hf, transformers >= 4.52 (model.*, lm_head.weight)",
                    "model.vision_tower.vision_model.", "model.multi_modal_projector.", "model.language_model.",
                    "lm_head.weight");
        }
        if (legacy) {
            return new CheckpointLayout(config,
                    "llava-hf legacy (vision_tower.*, multi_modal_projector.*, language_model.*)",
                    "vision_tower.vision_model.", "multi_modal_projector.", "language_model.model.",
                    "language_model.lm_head.weight");
        }
        throw new IllegalArgumentException("checkpoint " + source.describe() + " has no llava-hf keys: expected names "
                + "starting with 'language_model.model.' or 'vision_tower.' (legacy layout) or 'model.language_model.' "
                + "(transformers >= 4.52); it has " + source.names().size() + " tensors" + example(source));
    }

    private static String example(TensorSource source) {
        List<String> some = source.names().stream().sorted().limit(3).toList();
        return some.isEmpty() ? "" : ", e.g. " + String.join(", ", some);
    }

    /** Checkpoint keys whose presence means the config is missing a feature (they would be ignored). */
    List<String> unexpectedFeatureKeys() {
        List<String> keys = new ArrayList<>();
        if (!config.language().qkvBias()) {
            keys.add(config.family() == Family.INTERNVL_INTERNLM2 ? language + "layers.0.attention.wqkv.bias"
                    : language + "layers.0.self_attn.q_proj.bias");
        }
        return keys;
    }

    Recipe recipe(ParamSpec spec) {
        String name = spec.name();
        if (name.startsWith(VisionEncoder.PREFIX)) {
            return visionRecipe(spec, name.substring(VisionEncoder.PREFIX.length()));
        }
        if (name.startsWith(Projector.PREFIX)) {
            return projectorRecipe(spec, name.substring(Projector.PREFIX.length()));
        }
        return languageRecipe(spec, name.substring(LanguageModel.PREFIX.length()));
    }

    // ------------------------------------------------------------------------------ vision

    private Recipe visionRecipe(ParamSpec spec, String leaf) {
        boolean clip = config.family() == Family.LLAVA;
        long h = config.vision().hidden(), tokens = 1 + config.vision().patches();
        switch (leaf) {
            case "patch.weight": return direct(vision + "embeddings.patch_embedding.weight", spec.shape());
            case "patch.bias": return direct(vision + "embeddings.patch_embedding.bias", spec.shape());
            case "cls":
                return clip ? direct(vision + "embeddings.class_embedding", h)
                        : reshaped(vision + "embeddings.class_embedding", spec.shape(), 1, 1, h);
            case "pos":
                return clip ? direct(vision + "embeddings.position_embedding.weight", tokens, h)
                        : reshaped(vision + "embeddings.position_embedding", spec.shape(), 1, tokens, h);
            case "pre_norm.weight": return direct(vision + "pre_layrnorm.weight", h);
            case "pre_norm.bias": return direct(vision + "pre_layrnorm.bias", h);
            default: break;
        }
        // layers.{i}.{rest}
        int dot = leaf.indexOf('.', "layers.".length());
        String layer = vision + "encoder." + leaf.substring(0, dot + 1), rest = leaf.substring(dot + 1);
        if (!clip) return direct(layer + rest, spec.shape());  // InternViT's names are the canonical ones
        switch (rest) {
            case "norm1.weight": return direct(layer + "layer_norm1.weight", h);
            case "norm1.bias": return direct(layer + "layer_norm1.bias", h);
            case "norm2.weight": return direct(layer + "layer_norm2.weight", h);
            case "norm2.bias": return direct(layer + "layer_norm2.bias", h);
            case "attn.qkv.weight": return concat(layer + "self_attn.", "_proj.weight", QKV, h, h);
            case "attn.qkv.bias": return concat(layer + "self_attn.", "_proj.bias", QKV, h);
            case "attn.proj.weight": return direct(layer + "self_attn.out_proj.weight", h, h);
            case "attn.proj.bias": return direct(layer + "self_attn.out_proj.bias", h);
            default: return direct(layer + rest, spec.shape());  // mlp.fc1.*, mlp.fc2.*
        }
    }

    // ------------------------------------------------------------------------------ projector

    private Recipe projectorRecipe(ParamSpec spec, String leaf) {
        boolean llava = config.family() == Family.LLAVA;
        String[] parts = leaf.split("\\.");  // norm|fc1|fc2 . weight|bias
        String module;
        switch (parts[0]) {
            case "norm": module = "0"; break;
            case "fc1": module = llava ? "linear_1" : "1"; break;
            case "fc2": module = llava ? "linear_2" : "3"; break;
            default: throw new IllegalStateException("unknown projector weight " + spec.name());
        }
        return direct(projector + module + "." + parts[1], spec.shape());
    }

    // ------------------------------------------------------------------------------ language

    private Recipe languageRecipe(ParamSpec spec, String leaf) {
        ModelConfig.Language c = config.language();
        boolean internlm = config.family() == Family.INTERNVL_INTERNLM2;
        long h = c.hidden(), d = c.headDim(), m = c.intermediate();
        switch (leaf) {
            case "embed":
                return direct(language + (internlm ? "tok_embeddings.weight" : "embed_tokens.weight"), spec.shape());
            case "norm": return direct(language + "norm.weight", spec.shape());
            case "head.weight": {
                Recipe r = direct(head, spec.shape());
                return c.tiedHead() ? new Recipe(r.parts(), r.combine(), LanguageModel.PREFIX + "embed") : r;
            }
            default: break;
        }
        int dot = leaf.indexOf('.', "layers.".length());
        String layer = language + leaf.substring(0, dot + 1), rest = leaf.substring(dot + 1);
        if (internlm) {
            switch (rest) {
                case "attn_norm": return direct(layer + "attention_norm.weight", h);
                case "attn.qkv.weight": return internLm2Wqkv(layer + "attention.wqkv.weight");
                case "attn.o.weight": return direct(layer + "attention.wo.weight", h, c.heads() * d);
                case "mlp_norm": return direct(layer + "ffn_norm.weight", h);
                case "mlp.gate_up.weight":
                    return concat(layer + "feed_forward.", ".weight", new String[] {"w1", "w3"}, m, h);
                case "mlp.down.weight": return direct(layer + "feed_forward.w2.weight", h, m);
                case "attn.qkv.bias":
                    throw new IllegalArgumentException("model config '" + config.name() + "': InternLM2 with q/k/v "
                            + "biases (config 'bias': true) is not supported");
                default: throw new IllegalStateException("unknown InternLM2 weight " + spec.name());
            }
        }
        String attn = layer + "self_attn.";
        switch (rest) {
            case "attn_norm": return direct(layer + "input_layernorm.weight", h);
            case "attn.qkv.weight":
                return new Recipe(List.of(new Part(attn + "q_proj.weight", new long[] {c.heads() * d, h}),
                        new Part(attn + "k_proj.weight", new long[] {c.kvHeads() * d, h}),
                        new Part(attn + "v_proj.weight", new long[] {c.kvHeads() * d, h})),
                        CheckpointLayout::cat0, null);
            case "attn.qkv.bias":
                return new Recipe(List.of(new Part(attn + "q_proj.bias", new long[] {c.heads() * d}),
                        new Part(attn + "k_proj.bias", new long[] {c.kvHeads() * d}),
                        new Part(attn + "v_proj.bias", new long[] {c.kvHeads() * d})),
                        CheckpointLayout::cat0, null);
            case "attn.o.weight": return direct(attn + "o_proj.weight", h, c.heads() * d);
            case "mlp_norm": return direct(layer + "post_attention_layernorm.weight", h);
            case "mlp.gate_up.weight": return concat(layer + "mlp.", "_proj.weight", new String[] {"gate", "up"}, m, h);
            case "mlp.down.weight": return direct(layer + "mlp.down_proj.weight", h, m);
            default: throw new IllegalStateException("unknown decoder weight " + spec.name());
        }
    }

    /** InternLM2's wqkv [Hkv * (g + 2) * d, hidden], rows grouped per kv head, as [q; k; v]. */
    private Recipe internLm2Wqkv(String key) {
        ModelConfig.Language c = config.language();
        long kv = c.kvHeads(), g = c.heads() / c.kvHeads(), d = c.headDim(), h = c.hidden();
        return new Recipe(List.of(new Part(key, new long[] {kv * (g + 2) * d, h})), parts -> {
            Tensor grouped = parts.get(0).view(kv, g + 2, d, h);
            Tensor q = grouped.narrow(1, 0, g).reshape(kv * g * d, h);   // query head = kv head * g + j
            Tensor k = grouped.select(1, g).reshape(kv * d, h);
            Tensor v = grouped.select(1, g + 1).reshape(kv * d, h);
            return torch.cat(new TensorVector(q, k, v), 0);
        }, null);
    }

    private static Recipe direct(String key, long... shape) {
        return new Recipe(List.of(new Part(key, shape)), parts -> parts.get(0), null);
    }

    private static Recipe reshaped(String key, long[] target, long... stored) {
        return new Recipe(List.of(new Part(key, stored)), parts -> parts.get(0).reshape(target), null);
    }

    /** prefix + name + suffix for each name, each of `shape`, concatenated along axis 0. */
    private static Recipe concat(String prefix, String suffix, String[] names, long... shape) {
        List<Part> parts = new ArrayList<>();
        for (String n : names) parts.add(new Part(prefix + n + suffix, shape));
        return new Recipe(parts, CheckpointLayout::cat0, null);
    }

    private static Tensor cat0(List<Tensor> parts) {
        return torch.cat(new TensorVector(parts.toArray(new Tensor[0])), 0);
    }

    @Override
    public String toString() {
        return description + " for " + config.name() + " " + Arrays.asList(config.family());
    }
}
