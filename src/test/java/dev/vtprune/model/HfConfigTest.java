package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * config.json parsing. The JSON below reproduces the fields of the Hub files that matter
 * (OpenGVLab/InternVL2-2B and -1B, llava-hf/llava-1.5-7b-hf), including llava-hf's sparse
 * text_config that relies on LlamaConfig defaults.
 */
class HfConfigTest {
    @TempDir
    Path dir;

    static final String INTERNVL2_2B = """
            {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5,
             "dynamic_image_size": true, "force_image_size": 448, "max_dynamic_patch": 12, "min_dynamic_patch": 1,
             "ps_version": "v2", "select_layer": -1, "template": "internlm2-chat", "use_thumbnail": true,
             "use_backbone_lora": 0, "use_llm_lora": 0,
             "llm_config": {"_name_or_path": "internlm/internlm2-chat-1_8b", "architectures": ["InternLM2ForCausalLM"],
               "bias": false, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
               "max_position_embeddings": 32768, "model_type": "internlm2", "num_attention_heads": 16,
               "num_hidden_layers": 24, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
               "rope_scaling": {"factor": 2.0, "type": "dynamic"}, "rope_theta": 1000000, "tie_word_embeddings": false,
               "vocab_size": 92553},
             "vision_config": {"architectures": ["InternVisionModel"], "hidden_act": "gelu", "hidden_size": 1024,
               "image_size": 448, "intermediate_size": 4096, "layer_norm_eps": 1e-06, "model_type": "intern_vit_6b",
               "norm_type": "layer_norm", "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 24,
               "patch_size": 14, "qk_normalization": false, "qkv_bias": true}}
            """;

    static final String INTERNVL2_1B = INTERNVL2_2B.replace("""
            "llm_config": {"_name_or_path": "internlm/internlm2-chat-1_8b", "architectures": ["InternLM2ForCausalLM"],
               "bias": false, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
               "max_position_embeddings": 32768, "model_type": "internlm2", "num_attention_heads": 16,
               "num_hidden_layers": 24, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
               "rope_scaling": {"factor": 2.0, "type": "dynamic"}, "rope_theta": 1000000, "tie_word_embeddings": false,
               "vocab_size": 92553},""", """
            "llm_config": {"_name_or_path": "Qwen/Qwen2-0.5B-Instruct", "architectures": ["Qwen2ForCausalLM"],
               "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864, "max_position_embeddings": 32768,
               "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
               "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false,
               "use_sliding_window": false, "vocab_size": 151655},""").replace("internlm2-chat", "Hermes-2");

    static final String LLAVA_15_7B = """
            {"architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 32000,
             "model_type": "llava", "pad_token_id": 32001, "projector_hidden_act": "gelu",
             "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
               "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05, "torch_dtype": "float16",
               "vocab_size": 32064},
             "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.36.0.dev0",
             "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
               "model_type": "clip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14,
               "projection_dim": 768, "vocab_size": 32000},
             "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064}
            """;

    private ModelConfig read(String sub, String json) throws IOException {
        Path d = Files.createDirectories(dir.resolve(sub));
        Path f = d.resolve("config.json");
        Files.writeString(f, json);
        return ModelConfig.fromHuggingFace(f);
    }

    private static ModelConfig renamed(ModelConfig c, String name) {
        return new ModelConfig(name, c.family(), c.vision(), c.projector(), c.language(), c.tiling());
    }

    @Test
    void internVl2ConfigsGiveThePresets() throws IOException {
        ModelConfig two = read("InternVL2-2B", INTERNVL2_2B);
        assertEquals("internvl2-2b", two.name());
        assertEquals(ModelConfig.preset("internvl2-2b"), two);
        ModelConfig one = read("InternVL2-1B", INTERNVL2_1B);
        assertEquals(renamed(ModelConfig.preset("internvl2-1b"), "internvl2-1b"), one);
    }

    @Test
    void llavaHfConfigFillsLlamaAndClipDefaults() throws IOException {
        ModelConfig c = read("llava-1.5-7b-hf", LLAVA_15_7B);
        ModelConfig preset = ModelConfig.preset("llava-1.5-7b");
        ModelConfig.Language l = preset.language();
        ModelConfig.Language vocab32064 = new ModelConfig.Language(l.layers(), l.hidden(), l.heads(), l.kvHeads(),
                l.intermediate(), 32064, l.qkvBias(), l.ropeTheta(), l.rmsEps(), false, l.maxPositions());
        assertEquals(new ModelConfig("llava-1.5-7b-hf", preset.family(), preset.vision(), preset.projector(),
                vocab32064, preset.tiling()), c);
        assertEquals(23, c.vision().layers());  // hidden_states[-2] of 24 layers
    }

    @Test
    void unsupportedConfigsAreNamed() throws IOException {
        String qwen2Vl = "{\"model_type\": \"qwen2_vl\", \"architectures\": [\"Qwen2VLForConditionalGeneration\"]}";
        assertMessage(() -> read("a", qwen2Vl), "unsupported architecture", "qwen2_vl",
                "Qwen2VLForConditionalGeneration");
        assertMessage(() -> read("b", INTERNVL2_2B.replace("\"ps_version\": \"v2\"", "\"ps_version\": \"v1\"")),
                "'ps_version' must be \"v2\"", "got v1");
        assertMessage(() -> read("c", INTERNVL2_2B.replace("InternLM2ForCausalLM", "Phi3ForCausalLM")),
                "llm_config: 'architectures' must name InternLM2ForCausalLM or Qwen2ForCausalLM", "Phi3ForCausalLM");
        String qkNorm = INTERNVL2_2B.replace("\"qk_normalization\": false", "\"qk_normalization\": true");
        assertMessage(() -> read("d", qkNorm), "vision_config: 'qk_normalization' must be false");
        String full = LLAVA_15_7B.replace("\"vision_feature_select_strategy\": \"default\"",
                "\"vision_feature_select_strategy\": \"full\"");
        assertMessage(() -> read("e", full), "'vision_feature_select_strategy' must be \"default\"");
        assertMessage(() -> read("f", "[1, 2]"), "not a JSON object");
        assertMessage(() -> read("g", "{\"model_type\": "), "not valid JSON");
    }

    /**
     * Absent fields take the upstream classes' defaults: InternVisionConfig's describe InternViT-6B
     * (qk-norm, RMSNorm, no q/k/v bias), which is refused, not silently read as InternViT-300M;
     * Qwen2Config's and InternLM2Config's vocabularies; tie_word_embeddings false.
     */
    @Test
    void absentFieldsTakeTheUpstreamDefaults() throws IOException {
        assertMessage(() -> read("h", INTERNVL2_2B.replace("\"qk_normalization\": false, ", "")),
                "'qk_normalization' must be false", "default, true", "got nothing");
        assertMessage(() -> read("i", INTERNVL2_2B.replace("\"norm_type\": \"layer_norm\", ", "")),
                "'norm_type' must be \"layer_norm\"", "got nothing");
        assertMessage(() -> read("j", INTERNVL2_2B.replace(", \"qkv_bias\": true", "")), "'qkv_bias' must be true",
                "got nothing");
        assertMessage(() -> read("k", INTERNVL2_2B.replace("\"layer_norm_eps\": 1e-06", "\"layer_norm_eps\": 1e-05")),
                "'layer_norm_eps' must be 1e-6");
        assertEquals(151936, read("l", INTERNVL2_1B.replaceAll(",\\s*\"vocab_size\": 151655", ""))
                .language().vocab());
        assertEquals(103168, read("m", INTERNVL2_2B.replaceAll(",\\s*\"vocab_size\": 92553", ""))
                .language().vocab());
        assertEquals(false, read("n", INTERNVL2_1B).language().tiedHead());
        assertEquals(true, read("o", INTERNVL2_1B.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"))
                .language().tiedHead());
    }
}
