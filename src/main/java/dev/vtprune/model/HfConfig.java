package dev.vtprune.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.vtprune.model.ModelConfig.Family;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Supplier;

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
        String text = text(configJson, "model config");
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
        throw new IllegalArgumentException(where + ": unsupported architecture (model_type '" + Json.shown(type)
                + "', architectures [" + Json.shown(arch) + "]); supported: InternVL2 chat models (internvl_chat with InternLM2 "
                + "or Qwen2) and llava-hf LLaVA-1.5 (llava)");
    }

    /**
     * The text of a config file: an UncheckedIOException when it cannot be read, an
     * IllegalArgumentException naming the file and the byte offset when it is not UTF-8.
     */
    static String text(Path file, String what) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + what + " " + file, e);
        }
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = utf8.decode(in, out, true);
        if (!r.isError()) r = utf8.flush(out);
        if (r.isError()) {
            throw new IllegalArgumentException(file + ": not valid UTF-8 (malformed byte 0x"
                    + String.format(Locale.ROOT, "%02x", bytes[in.position()] & 0xff) + " at offset " + in.position() + ")");
        }
        return out.flip().toString();
    }

    /** The JSON object of a config file's text; `where` names the file in the messages. */
    static JsonObject object(String json, String where) {
        try {
            JsonElement e = JsonParser.parseString(json);
            if (!e.isJsonObject()) throw new IllegalArgumentException(where + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            // Gson's message says where (line, column, path), then a second line pointing to its
            // troubleshooting page; the CLI prints one line.
            String m = String.valueOf(e.getMessage()).lines().findFirst().orElse("").strip()
                    .replaceFirst("^[\\w.$]+Exception: ", "");
            // Its path names the keys on the way, which can be any length.
            throw new IllegalArgumentException(where + ": not valid JSON (" + Json.cut(m, 2 * Json.SHOWN) + ")", e);
        }
    }

    /**
     * `make` (a record constructor of ModelConfig or ClipTextModel.Config), its refusal named in
     * the file's terms: `where`, then the component names replaced by their JSON keys (pairs:
     * component, key).
     */
    static <T> T build(Supplier<T> make, String where, String... pairs) {
        try {
            return make.get();
        } catch (IllegalArgumentException e) {
            String m = String.valueOf(e.getMessage());
            int quote = m.indexOf('\'');
            m = quote < 0 ? m : m.substring(quote);
            for (int i = 0; i + 1 < pairs.length; i += 2) m = m.replace("'" + pairs[i] + "'", "'" + pairs[i + 1] + "'");
            throw new IllegalArgumentException(where + ": " + m, e);
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
        boolean forced = r.raw("force_image_size") != null && !r.raw("force_image_size").isJsonNull();
        int imageSize = r.integer("force_image_size", v.integer("image_size", 224));
        int vLayers = featureLayers(r, "select_layer", -1, v.integer("num_hidden_layers", 48));
        int vHidden = v.integer("hidden_size", 3200);
        int patch = v.integer("patch_size", 14), vHeads = v.integer("num_attention_heads", 25);
        int mlp = v.integer("intermediate_size", 12800);
        ModelConfig.Vision vision = build(() -> new ModelConfig.Vision(imageSize, patch, vLayers, vHidden, vHeads, mlp,
                merge, true, false, false), v.where, visionKeys(forced ? "force_image_size" : "image_size"));

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
        if ((long) vHidden * merge * merge > Integer.MAX_VALUE) {
            v.fail("hidden_size", "keep a merged token (hidden_size / downsample_ratio^2) within 2^31 - 1", vHidden);
        }
        ModelConfig.Projector projector =
                new ModelConfig.Projector(vHidden * merge * merge, language.hidden(), language.hidden(), true);
        int minTiles = r.integer("min_dynamic_patch", 1), maxTiles = r.integer("max_dynamic_patch", 6);
        boolean thumbnail = r.bool("use_thumbnail", false);
        ModelConfig.Tiling tiling = build(() -> new ModelConfig.Tiling(minTiles, maxTiles, thumbnail), r.where,
                "minTiles", "min_dynamic_patch", "maxTiles", "max_dynamic_patch");
        return build(() -> new ModelConfig(name, family, vision, projector, language, tiling), r.where,
                "maxTiles", "max_dynamic_patch");
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
        int imageSize = v.integer("image_size", 224), patch = v.integer("patch_size", 32);
        int vHeads = v.integer("num_attention_heads", 12), mlp = v.integer("intermediate_size", 3072);
        ModelConfig.Vision vision = build(() -> new ModelConfig.Vision(imageSize, patch, layers, vHidden, vHeads, mlp, 1,
                false, true, true), v.where, visionKeys("image_size"));
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
        int layers = c.integer("num_hidden_layers", 32), hidden = c.integer("hidden_size", 4096);
        int heads = c.integer("num_attention_heads", 32), kvHeads = c.integer("num_key_value_heads", heads);
        int intermediate = c.integer("intermediate_size", defaultIntermediate), vocab = c.integer("vocab_size", defaultVocab);
        double theta = c.number("rope_theta", 10000), eps = c.number("rms_norm_eps", 1e-6);
        boolean tied = c.bool("tie_word_embeddings", false);
        int positions = c.integer("max_position_embeddings", 2048);
        ModelConfig.Language l = build(() -> new ModelConfig.Language(layers, hidden, heads, kvHeads, intermediate, vocab,
                qkvBias, theta, eps, tied, positions), c.where, "layers", "num_hidden_layers", "hidden", "hidden_size",
                "heads", "num_attention_heads", "kvHeads", "num_key_value_heads", "intermediate", "intermediate_size",
                "vocab", "vocab_size", "ropeTheta", "rope_theta", "rmsEps", "rms_norm_eps", "maxPositions",
                "max_position_embeddings");
        // RoPE rotates pairs of each head's channels.
        if (l.headDim() % 2 != 0) {
            c.fail("hidden_size", "give an even head dimension with 'num_attention_heads' (" + heads + ")",
                    hidden + " (head dimension " + l.headDim() + ")");
        }
        return l;
    }

    /** ModelConfig.Vision's components and the keys that give them, as pairs for {@link #build}. */
    private static String[] visionKeys(String imageKey) {
        return new String[] {"imageSize", imageKey, "patchSize", "patch_size", "hidden", "hidden_size", "heads",
            "num_attention_heads", "mlp", "intermediate_size", "merge", "downsample_ratio (as 1 / ratio)"};
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

    /**
     * A JSON object with typed getters whose errors say where, which key, what was expected and
     * what came: a key of the wrong JSON type is refused, never coerced (Gson would read "yes" as
     * false, an object's getAsString throws UnsupportedOperationException, 1e10 would become
     * Integer.MAX_VALUE).
     */
    record Json(JsonObject o, String where) {
        /** Longest value quoted in a message: a fuzzed 3,000-character string is cut. */
        static final int SHOWN = 100;

        JsonElement raw(String key) {
            return o.get(key);
        }

        private JsonElement present(String key) {
            JsonElement e = o.get(key);
            return e == null || e.isJsonNull() ? null : e;
        }

        Json object(String key) {
            JsonElement e = o.get(key);
            if (e == null || !e.isJsonObject()) throw error(key, "be a JSON object", e == null ? "nothing" : e);
            return new Json(e.getAsJsonObject(), where + " " + key);
        }

        String string(String key, String dflt) {
            JsonElement e = present(key);
            if (e == null) return dflt;
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) throw error(key, "be a string", e);
            return e.getAsString();
        }

        int integer(String key, int dflt) {
            JsonElement e = present(key);
            if (e == null) return dflt;
            double d = number(key, dflt);
            if (d != Math.rint(d) || d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
                fail(key, "be an integer in [" + Integer.MIN_VALUE + ", " + Integer.MAX_VALUE + "]", e);
            }
            return (int) d;
        }

        double number(String key, double dflt) {
            JsonElement e = present(key);
            if (e == null) return dflt;
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw error(key, "be a number", e);
            double d = e.getAsDouble();
            if (!Double.isFinite(d)) throw error(key, "be a finite number", e);
            return d;
        }

        boolean bool(String key, boolean dflt) {
            JsonElement e = present(key);
            if (e == null) return dflt;
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean()) return e.getAsBoolean();
            // InternVL writes 0/1 for some flags (use_backbone_lora...).
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
                double d = e.getAsDouble();
                if (d == 0 || d == 1) return d == 1;
            }
            throw error(key, "be true or false (or 0 or 1)", e);
        }

        /** The first class name of "architectures", or "" when there is none. */
        String firstArchitecture() {
            JsonElement e = present("architectures");
            if (e == null) return "";
            if (!e.isJsonArray()) throw error("architectures", "be an array of class names", e);
            if (e.getAsJsonArray().isEmpty()) return "";
            JsonElement first = e.getAsJsonArray().get(0);
            if (!first.isJsonPrimitive() || !first.getAsJsonPrimitive().isString()) {
                throw error("architectures", "be an array of class names (strings)", e);
            }
            return first.getAsString();
        }

        IllegalArgumentException error(String key, String expected, Object actual) {
            return new IllegalArgumentException(where + ": '" + key + "' must " + expected + ", got " + shown(actual));
        }

        void fail(String key, String expected, Object actual) {
            throw error(key, expected, actual);
        }

        /** A value for a one-line message: control characters escaped as JSON does, cut after SHOWN chars. */
        static String shown(Object actual) {
            String v = String.valueOf(actual);
            if (actual instanceof String && v.chars().anyMatch(c -> c < 0x20)) v = new JsonPrimitive(v).toString();
            return cut(v, SHOWN);
        }

        static String cut(String v, int most) {
            return v.length() <= most ? v : v.substring(0, most) + "... (" + v.length() + " chars)";
        }
    }
}
