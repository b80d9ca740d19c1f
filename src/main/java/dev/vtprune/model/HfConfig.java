package dev.vtprune.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.vtprune.model.ModelConfig.Family;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Reads the config.json of a Hugging Face checkpoint into a {@link ModelConfig}:
 * <ul>
 * <li>InternVL2 chat models ({@code model_type} "internvl_chat"): {@code vision_config}
 *     (InternViT), {@code llm_config} (InternLM2ForCausalLM or Qwen2ForCausalLM),
 *     {@code downsample_ratio}, {@code ps_version}, {@code select_layer},
 *     {@code min/max_dynamic_patch}, {@code use_thumbnail}, {@code force_image_size}.</li>
 * <li>llava-hf LLaVA-1.5 ({@code model_type} "llava"): {@code vision_config} (CLIP),
 *     {@code text_config} (Llama), {@code vision_feature_layer},
 *     {@code vision_feature_select_strategy}. llava-hf omits fields equal to the transformers
 *     defaults (its text_config gives only vocab and eps), so the CLIPVisionConfig and LlamaConfig
 *     defaults fill them in, as transformers does.</li>
 * </ul>
 * Anything the modules cannot run faithfully (other LMs, InternViT-6B's qk-norm, ps_version v1,
 * CLS-keeping feature strategies, rope scaling other than "dynamic") is an
 * IllegalArgumentException that says what and where, never a silently different model.
 */
final class HfConfig {
    private HfConfig() {}

    static ModelConfig read(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read model config " + configJson, e);
        }
        Path dir = configJson.toAbsolutePath().getParent();
        return parse(text, dir == null ? "hf-model" : dir.getFileName().toString(), configJson.toString());
    }

    /**
     * @param fallbackName name when the json has no {@code _name_or_path} (the directory name)
     * @param where        for messages
     */
    static ModelConfig parse(String json, String fallbackName, String where) {
        Json r = new Json(object(json, where), where);
        String name = name(r.string("_name_or_path", null), fallbackName);
        String type = r.string("model_type", "");
        String arch = r.firstArchitecture();
        if (type.equals("internvl_chat") || arch.equals("InternVLChatModel")) return internVl(r, name);
        if (type.equals("llava") || arch.equals("LlavaForConditionalGeneration")) return llava(r, name);
        throw new IllegalArgumentException(where + ": unsupported architecture (model_type '" + type
                + "', architectures [" + arch + "]); supported: InternVL2 chat models (internvl_chat with InternLM2 "
                + "or Qwen2) and llava-hf LLaVA-1.5 (llava)");
    }

    /** The JSON object of a config file's text; `where` names the file in the messages. */
    static JsonObject object(String json, String where) {
        try {
            JsonElement e = JsonParser.parseString(json);
            if (!e.isJsonObject()) throw new IllegalArgumentException(where + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(where + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }

    private static String name(String nameOrPath, String fallback) {
        String n = nameOrPath == null || nameOrPath.isBlank() ? fallback : nameOrPath;
        n = n.replace('\\', '/');
        n = n.substring(n.lastIndexOf('/') + 1);
        return n.isBlank() ? "hf-model" : n.toLowerCase(Locale.ROOT);
    }

    private static ModelConfig internVl(Json r, String name) {
        Json v = r.object("vision_config"), l = r.object("llm_config");
        String psVersion = r.string("ps_version", "v1");
        if (!psVersion.equals("v2")) {
            throw r.error("ps_version", "be \"v2\" (v1's pixel shuffle leaves tokens transposed; not implemented)",
                    psVersion);
        }
        // Absent fields take InternVisionConfig's defaults, which describe InternViT-6B (qk-norm,
        // RMSNorm, no q/k/v bias); InternViT-300M configs (InternVL2-1B..8B) spell all three out.
        if (v.bool("qk_normalization", true)) {
            v.fail("qk_normalization", "be false (InternViT-6B's qk-norm is not implemented; absent means "
                    + "InternVisionConfig's default, true)", v.raw("qk_normalization") == null ? "nothing" : true);
        }
        String norm = v.string("norm_type", "rms_norm");
        if (!norm.equals("layer_norm")) {
            v.fail("norm_type", "be \"layer_norm\" (InternViT-6B's rms_norm, InternVisionConfig's default, is not "
                    + "implemented)", v.raw("norm_type") == null ? "nothing" : norm);
        }
        if (!v.bool("qkv_bias", false)) {
            v.fail("qkv_bias", "be true (an InternViT without q/k/v bias, InternVisionConfig's default, is not "
                    + "implemented)", v.raw("qkv_bias") == null ? "nothing" : false);
        }
        double eps = v.number("layer_norm_eps", 1e-6);
        if (eps != 1e-6) v.fail("layer_norm_eps", "be 1e-6 (InternViT's)", eps);
        String act = v.string("hidden_act", "gelu");
        if (!act.equals("gelu")) v.fail("hidden_act", "be \"gelu\"", act);
        double ratio = r.number("downsample_ratio", 0.5);
        int merge = (int) Math.round(1 / ratio);
        if (merge < 1 || Math.abs(merge * ratio - 1) > 1e-9) {
            r.fail("downsample_ratio", "be 1/m for an integer m", ratio);
        }
        int imageSize = r.integer("force_image_size", v.integer("image_size", 224));
        int vLayers = featureLayers(r, "select_layer", -1, v.integer("num_hidden_layers", 48));
        int vHidden = v.integer("hidden_size", 3200);
        ModelConfig.Vision vision = new ModelConfig.Vision(imageSize, v.integer("patch_size", 14), vLayers, vHidden,
                v.integer("num_attention_heads", 25), v.integer("intermediate_size", 12800), merge, true, false, false);

        String llm = l.firstArchitecture();
        Family family;
        boolean bias;
        switch (llm) {
            case "InternLM2ForCausalLM":
                family = Family.INTERNVL_INTERNLM2;
                bias = l.bool("bias", true);
                if (bias) l.fail("bias", "be false (InternLM2 with q/k/v and output biases is not implemented)", true);
                break;
            case "Qwen2ForCausalLM":
                family = Family.INTERNVL_QWEN2;
                bias = true;
                break;
            default:
                throw l.error("architectures",
                        "name InternLM2ForCausalLM or Qwen2ForCausalLM (other InternVL2 LMs are not supported)", llm);
        }
        // InternLM2Config's and Qwen2Config's defaults where they differ from LlamaConfig's.
        ModelConfig.Language language = family == Family.INTERNVL_QWEN2 ? language(l, bias, 151936, 22016)
                : language(l, bias, 103168, 11008);
        ModelConfig.Projector projector =
                new ModelConfig.Projector(vHidden * merge * merge, language.hidden(), language.hidden(), true);
        ModelConfig.Tiling tiling = new ModelConfig.Tiling(r.integer("min_dynamic_patch", 1),
                r.integer("max_dynamic_patch", 6), r.bool("use_thumbnail", false));
        return new ModelConfig(name, family, vision, projector, language, tiling);
    }

    private static ModelConfig llava(Json r, String name) {
        Json v = r.object("vision_config"), t = r.object("text_config");
        String vType = v.string("model_type", "clip_vision_model");
        if (!vType.equals("clip_vision_model")) v.fail("model_type", "be \"clip_vision_model\"", vType);
        String tType = t.string("model_type", "llama");
        if (!tType.equals("llama")) {
            t.fail("model_type", "be \"llama\" (Vicuna; other LLaVA LMs are not supported)", tType);
        }
        String strategy = r.string("vision_feature_select_strategy", "default");
        if (!strategy.equals("default")) {
            r.fail("vision_feature_select_strategy", "be \"default\" (CLS dropped)", strategy);
        }
        String projAct = r.string("projector_hidden_act", "gelu");
        if (!projAct.equals("gelu")) r.fail("projector_hidden_act", "be \"gelu\"", projAct);
        String act = v.string("hidden_act", "quick_gelu");
        if (!act.equals("quick_gelu")) v.fail("hidden_act", "be \"quick_gelu\"", act);
        double eps = v.number("layer_norm_eps", 1e-5);
        if (eps != 1e-5) v.fail("layer_norm_eps", "be 1e-5 (CLIP's)", eps);
        // CLIPVisionConfig defaults (ViT-B/32) where llava-hf leaves fields out.
        int layers = featureLayers(r, "vision_feature_layer", -2, v.integer("num_hidden_layers", 12));
        int vHidden = v.integer("hidden_size", 768);
        ModelConfig.Vision vision = new ModelConfig.Vision(v.integer("image_size", 224), v.integer("patch_size", 32),
                layers, vHidden, v.integer("num_attention_heads", 12), v.integer("intermediate_size", 3072), 1, false,
                true, true);
        if (t.bool("attention_bias", false)) t.fail("attention_bias", "be false", true);
        ModelConfig.Language language = language(t, false, 32000, 11008);
        ModelConfig.Projector projector =
                new ModelConfig.Projector(vHidden, language.hidden(), language.hidden(), false);
        return new ModelConfig(name, Family.LLAVA, vision, projector, language, ModelConfig.Tiling.SINGLE);
    }

    /**
     * Decoder shapes; the defaults of absent fields are those LlamaConfig, InternLM2Config and
     * Qwen2Config share (32 layers of 4096, 32 heads, kv heads = heads, eps 1e-6, theta 10000, no
     * tied head) and the vocabulary and MLP width of the family's class.
     */
    private static ModelConfig.Language language(Json c, boolean qkvBias, int defaultVocab, int defaultIntermediate) {
        JsonElement scaling = c.raw("rope_scaling");
        if (scaling != null && !scaling.isJsonNull()) {
            Json s = c.object("rope_scaling");
            String type = s.string("rope_type", s.string("type", ""));
            // Dynamic NTK scaling changes nothing below max_position_embeddings (32k for InternVL2).
            if (!type.equals("dynamic")) c.fail("rope_scaling", "be null or of type \"dynamic\"", scaling);
        }
        int heads = c.integer("num_attention_heads", 32);
        return new ModelConfig.Language(c.integer("num_hidden_layers", 32), c.integer("hidden_size", 4096), heads,
                c.integer("num_key_value_heads", heads), c.integer("intermediate_size", defaultIntermediate),
                c.integer("vocab_size", defaultVocab), qkvBias, c.number("rope_theta", 10000),
                c.number("rms_norm_eps", 1e-6), c.bool("tie_word_embeddings", false),
                c.integer("max_position_embeddings", 2048));
    }

    /** Encoder layers that run to produce hidden_states[index] (index < 0 counts from the end of L + 1 states). */
    private static int featureLayers(Json r, String key, int defaultIndex, int layers) {
        JsonElement e = r.raw(key);
        if (e != null && !e.isJsonNull() && !e.isJsonPrimitive()) r.fail(key, "be a single layer index", e);
        int index = r.integer(key, defaultIndex);
        int run = index < 0 ? layers + 1 + index : index;
        if (run < 1 || run > layers) r.fail(key, "select one of the " + layers + " encoder layers", index);
        return run;
    }

    /** A JSON object with typed getters whose errors say where. */
    private record Json(JsonObject o, String where) {
        JsonElement raw(String key) {
            return o.get(key);
        }

        Json object(String key) {
            JsonElement e = o.get(key);
            if (e == null || !e.isJsonObject()) throw error(key, "be a JSON object", e == null ? "nothing" : e);
            return new Json(e.getAsJsonObject(), where + " " + key);
        }

        String string(String key, String dflt) {
            JsonElement e = o.get(key);
            return e == null || e.isJsonNull() ? dflt : e.getAsString();
        }

        int integer(String key, int dflt) {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) return dflt;
            double d = number(key, dflt);
            if (d != Math.rint(d)) fail(key, "be an integer", e);
            return (int) d;
        }

        double number(String key, double dflt) {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) return dflt;
            try {
                return e.getAsDouble();
            } catch (RuntimeException ex) {
                throw error(key, "be a number", e);
            }
        }

        boolean bool(String key, boolean dflt) {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) return dflt;
            // InternVL writes 0/1 for some flags (use_backbone_lora...).
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) return e.getAsInt() != 0;
            return e.getAsBoolean();
        }

        String firstArchitecture() {
            JsonElement e = o.get("architectures");
            if (e == null || !e.isJsonArray() || e.getAsJsonArray().isEmpty()) return "";
            return e.getAsJsonArray().get(0).getAsString();
        }

        IllegalArgumentException error(String key, String expected, Object actual) {
            return new IllegalArgumentException(where + ": '" + key + "' must " + expected + ", got " + actual);
        }

        void fail(String key, String expected, Object actual) {
            throw error(key, expected, actual);
        }
    }
}
