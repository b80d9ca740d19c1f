package dev.vtprune.model;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.vtprune.io.Safetensors;
import dev.vtprune.model.ModelConfig.Family;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Writes an InternVL2 model with an InternLM2 LM as a Hugging Face checkpoint directory:
 * {@code config.json} (internvl_chat, as {@link HfConfig} reads it) and {@code model.safetensors}
 * under the InternVLChatModel key names, float32 — the inverse of {@link CheckpointLayout}'s
 * recipes: InternLM2's {@code wqkv} is re-interleaved per kv head, gate/up split into w1/w3,
 * the class and position embeddings get their leading singleton axes back.
 */
public final class CheckpointWriter {
    private CheckpointWriter() {}

    /** Writes `model` into `dir` (created if needed); `extra` tensors (e.g. a text tower) go in too, by their own names. */
    public static void write(Lvlm model, Path dir, Map<String, Tensor> extra) {
        ModelConfig c = model.config();
        if (c.family() != Family.INTERNVL_INTERNLM2) {
            throw new IllegalArgumentException("argument 'model': only InternVL2 + InternLM2 models can be written, got "
                    + c.family());
        }
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : model.weights().entrySet()) {
                Tensor w = e.getValue().detach().to(ScalarType.Float).contiguous();
                hf(c, e.getKey(), w, out);
            }
            if (extra != null) {
                for (Map.Entry<String, Tensor> e : extra.entrySet()) {
                    if (out.containsKey(e.getKey())) throw new IllegalArgumentException("extra tensor '" + e.getKey() + "' clashes with a model weight");
                    out.put(e.getKey(), e.getValue().detach().to(ScalarType.Float).contiguous());
                }
            }
            Files.createDirectories(dir);
            Safetensors.write(dir.resolve("model.safetensors"), out, Map.of("format", "pt"));
            Files.writeString(dir.resolve("config.json"), config(c), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the checkpoint to " + dir, e);
        }
    }

    private static void hf(ModelConfig c, String name, Tensor w, Map<String, Tensor> out) {
        ModelConfig.Language l = c.language();
        long h = c.vision().hidden();
        if (name.startsWith(VisionEncoder.PREFIX)) {
            String leaf = name.substring(VisionEncoder.PREFIX.length());
            switch (leaf) {
                case "patch.weight" -> out.put("vision_model.embeddings.patch_embedding.weight", w);
                case "patch.bias" -> out.put("vision_model.embeddings.patch_embedding.bias", w);
                case "cls" -> out.put("vision_model.embeddings.class_embedding", w.reshape(1, 1, h));
                case "pos" -> out.put("vision_model.embeddings.position_embedding", w.reshape(1, w.size(0), h));
                default -> out.put("vision_model.encoder." + leaf, w);
            }
            return;
        }
        if (name.startsWith(Projector.PREFIX)) {
            String[] p = name.substring(Projector.PREFIX.length()).split("\\.");
            String module = switch (p[0]) {
                case "norm" -> "0";
                case "fc1" -> "1";
                case "fc2" -> "3";
                default -> throw new IllegalStateException("unknown projector weight " + name);
            };
            out.put("mlp1." + module + "." + p[1], w);
            return;
        }
        String leaf = name.substring(LanguageModel.PREFIX.length()), lm = "language_model.model.";
        switch (leaf) {
            case "embed" -> out.put(lm + "tok_embeddings.weight", w);
            case "norm" -> out.put(lm + "norm.weight", w);
            case "head.weight" -> out.put("language_model.output.weight", w);
            default -> {
                int dot = leaf.indexOf('.', "layers.".length());
                String layer = lm + leaf.substring(0, dot + 1), rest = leaf.substring(dot + 1);
                long m = l.intermediate();
                switch (rest) {
                    case "attn_norm" -> out.put(layer + "attention_norm.weight", w);
                    case "attn.qkv.weight" -> out.put(layer + "attention.wqkv.weight", wqkv(l, w));
                    case "attn.o.weight" -> out.put(layer + "attention.wo.weight", w);
                    case "mlp_norm" -> out.put(layer + "ffn_norm.weight", w);
                    case "mlp.gate_up.weight" -> {
                        out.put(layer + "feed_forward.w1.weight", w.narrow(0, 0, m).contiguous());
                        out.put(layer + "feed_forward.w3.weight", w.narrow(0, m, m).contiguous());
                    }
                    case "mlp.down.weight" -> out.put(layer + "feed_forward.w2.weight", w);
                    default -> throw new IllegalStateException("unknown InternLM2 weight " + name);
                }
            }
        }
    }

    /** [q; k; v] rows back to InternLM2's grouping per kv head: [g query heads, key, value] x d. */
    private static Tensor wqkv(ModelConfig.Language l, Tensor w) {
        long kv = l.kvHeads(), g = l.heads() / l.kvHeads(), d = l.headDim(), h = l.hidden();
        Tensor q = w.narrow(0, 0, kv * g * d).view(kv, g, d, h);
        Tensor k = w.narrow(0, kv * g * d, kv * d).view(kv, 1, d, h);
        Tensor v = w.narrow(0, kv * g * d + kv * d, kv * d).view(kv, 1, d, h);
        return torch.cat(new TensorVector(q, k, v), 1).reshape(kv * (g + 2) * d, h).contiguous();
    }

    /** The config.json of `c` in InternVL2's form (the fields HfConfig reads). */
    static String config(ModelConfig c) {
        ModelConfig.Vision v = c.vision();
        ModelConfig.Language l = c.language();
        JsonObject root = new JsonObject();
        root.addProperty("_name_or_path", c.name());
        JsonArray arch = new JsonArray();
        arch.add("InternVLChatModel");
        root.add("architectures", arch);
        root.addProperty("model_type", "internvl_chat");
        root.addProperty("ps_version", "v2");
        root.addProperty("downsample_ratio", 1.0 / v.merge());
        root.addProperty("force_image_size", v.imageSize());
        root.addProperty("select_layer", -1);
        root.addProperty("template", "internlm2-chat");
        root.addProperty("min_dynamic_patch", c.tiling().minTiles());
        root.addProperty("max_dynamic_patch", c.tiling().maxTiles());
        root.addProperty("use_thumbnail", c.tiling().thumbnail());
        root.addProperty("torch_dtype", "float32");
        JsonObject vc = new JsonObject();
        vc.addProperty("model_type", "intern_vit_6b");
        vc.addProperty("image_size", v.imageSize());
        vc.addProperty("patch_size", v.patchSize());
        vc.addProperty("num_hidden_layers", v.layers());
        vc.addProperty("hidden_size", v.hidden());
        vc.addProperty("num_attention_heads", v.heads());
        vc.addProperty("intermediate_size", v.mlp());
        vc.addProperty("qkv_bias", true);  // explicit: upstream InternVisionConfig's defaults are InternViT-6B's
        vc.addProperty("qk_normalization", false);
        vc.addProperty("norm_type", "layer_norm");
        vc.addProperty("hidden_act", "gelu");
        vc.addProperty("layer_norm_eps", 1e-6);
        root.add("vision_config", vc);
        JsonObject lc = new JsonObject();
        JsonArray larch = new JsonArray();
        larch.add("InternLM2ForCausalLM");
        lc.add("architectures", larch);
        lc.addProperty("model_type", "internlm2");
        lc.addProperty("bias", false);
        lc.addProperty("num_hidden_layers", l.layers());
        lc.addProperty("hidden_size", l.hidden());
        lc.addProperty("num_attention_heads", l.heads());
        lc.addProperty("num_key_value_heads", l.kvHeads());
        lc.addProperty("intermediate_size", l.intermediate());
        lc.addProperty("vocab_size", l.vocab());
        lc.addProperty("rope_theta", l.ropeTheta());
        lc.addProperty("rms_norm_eps", l.rmsEps());
        lc.addProperty("hidden_act", "silu");
        lc.addProperty("tie_word_embeddings", l.tiedHead());
        lc.addProperty("max_position_embeddings", l.maxPositions());
        root.add("llm_config", lc);
        return new GsonBuilder().setPrettyPrinting().create().toJson(root) + "\n";
    }
}
