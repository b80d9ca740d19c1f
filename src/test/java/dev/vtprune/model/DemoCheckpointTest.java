package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.cli.Main;
import dev.vtprune.io.Safetensors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vtprune demo --model-dir` on a tiny checkpoint with the real InternVL2 key names and config.json. */
public class DemoCheckpointTest {
    @TempDir
    Path dir;

    /** An InternVL2 config.json with the `tiny` preset's dimensions. */
    public static final String TINY_INTERNVL = """
            {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5,
             "dynamic_image_size": true, "force_image_size": 56, "max_dynamic_patch": 4, "min_dynamic_patch": 1,
             "ps_version": "v2", "select_layer": -1, "template": "internlm2-chat", "use_thumbnail": true,
             "llm_config": {"architectures": ["InternLM2ForCausalLM"], "bias": false, "hidden_act": "silu",
               "hidden_size": 48, "intermediate_size": 96, "max_position_embeddings": 4096, "model_type": "internlm2",
               "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 2, "rms_norm_eps": 1e-05,
               "rope_theta": 10000, "tie_word_embeddings": false, "vocab_size": 300},
             "vision_config": {"architectures": ["InternVisionModel"], "hidden_act": "gelu", "hidden_size": 32,
               "image_size": 56, "intermediate_size": 64, "layer_norm_eps": 1e-06, "norm_type": "layer_norm",
               "num_attention_heads": 2, "num_channels": 3, "num_hidden_layers": 2, "patch_size": 14,
               "qk_normalization": false, "qkv_bias": true}}
            """;

    record Run(int code, String out, String err) {}

    static Run demo(String... args) {
        return command("demo", args);
    }

    /** `vtprune command args...` in this JVM. */
    static Run command(String command, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        String[] all = new String[args.length + 1];
        all[0] = command;
        System.arraycopy(args, 0, all, 1, args.length);
        int code = Main.run(all, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    Path checkpoint(String name, Map<String, Tensor> tensors) throws Exception {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve("config.json"), TINY_INTERNVL);
        Safetensors.write(d.resolve("model.safetensors"), tensors);
        return d;
    }

    @Test
    void demoRunsOnARealLayoutCheckpoint() throws Exception {
        TestCheckpoint ck = TestCheckpoint.of(ModelConfig.preset("tiny"), 5);
        Path model = checkpoint("ok", ck.hf);
        Run r = demo("--model-dir", model.toString(), "--repeat", "1", "--out", dir.resolve("out").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("checkpoint " + model), r.out());
        assertTrue(r.out().contains("time to first token"), r.out());
        assertTrue(Files.size(dir.resolve("out/overlay.png")) > 0);
        assertTrue(r.err().contains("loading checkpoint"), r.err());
        assertTrue(r.err().contains("neither tokenizer.json nor tokenizer.model in"), "the byte fallback is announced: " + r.err());
        assertTrue(r.out().contains("UTF-8 bytes"), r.out());
    }

    /** With the checkpoint's tokenizer.model (InternVL2-2B's format): the sentencepiece tokenizer runs the prompt. */
    @Test
    void demoUsesTheCheckpointsTokenizer() throws Exception {
        ModelConfig tiny = ModelConfig.preset("tiny");
        ModelConfig.Language l = tiny.language();
        ModelConfig c = new ModelConfig(tiny.name(), tiny.family(), tiny.vision(), tiny.projector(), new ModelConfig.Language(
                l.layers(), l.hidden(), l.heads(), l.kvHeads(), l.intermediate(), 32005, l.qkvBias(), l.ropeTheta(), l.rmsEps(),
                l.tiedHead(), l.maxPositions()),
                tiny.tiling());
        Path model = Files.createDirectories(dir.resolve("sp"));
        Files.writeString(model.resolve("config.json"), TINY_INTERNVL.replace("\"vocab_size\": 300", "\"vocab_size\": 32005"));
        Safetensors.write(model.resolve("model.safetensors"), TestCheckpoint.of(c, 7).hf);
        try (var in = DemoCheckpointTest.class.getResourceAsStream("/tokenizers/llama-sentencepiece.model.gz")) {
            Files.copy(new java.util.zip.GZIPInputStream(in), model.resolve("tokenizer.model"));
        }
        Files.writeString(model.resolve("added_tokens.json"),
                "{\"<|im_start|>\": 32000, \"<|im_end|>\": 32001, \"<img>\": 32002, \"</img>\": 32003, \"<IMG_CONTEXT>\": 32004}");
        Run r = demo("--model-dir", model.toString(), "--repeat", "1", "--prompt", "Where is the red ball?", "--out",
                dir.resolve("out-sp").toString());
        assertEquals(0, r.code(), r.err());
        // Llama pieces of the prompt: ▁Where ▁is ▁the ▁red ▁ball ?
        assertTrue(r.out().contains("(6 tokens: sentencepiece tokenizer.model via DJL"), r.out());
        assertTrue(!r.err().contains("UTF-8 bytes"), r.err());

        // the same tokenizer next to an LM whose vocabulary it overflows: one clear line
        Path small = checkpoint("small-vocab", TestCheckpoint.of(tiny, 8).hf);
        Files.copy(model.resolve("tokenizer.model"), small.resolve("tokenizer.model"));
        Files.copy(model.resolve("added_tokens.json"), small.resolve("added_tokens.json"));
        Run bad = demo("--model-dir", small.toString(), "--repeat", "1", "--out", dir.resolve("out-small").toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("outside the LM's vocabulary of 300"), bad.err());
    }

    @Test
    void wrongKeyNamesAndMissingCheckpointsGiveOneClearLine() throws Exception {
        TestCheckpoint ck = TestCheckpoint.of(ModelConfig.preset("tiny"), 6);
        Map<String, Tensor> renamed = new LinkedHashMap<>();
        ck.hf.forEach((k, v) -> renamed.put(k.replace("attention.wqkv", "attention.qkv"), v));
        Run bad = demo("--model-dir", checkpoint("renamed", renamed).toString(), "--repeat", "1", "--out",
                dir.resolve("o2").toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("attention.wqkv.weight"), bad.err());
        Run missing = demo("--model-dir", dir.resolve("nowhere").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("argument '--model-dir': " + dir.resolve("nowhere") + " does not exist"), missing.err());
        Files.createDirectories(dir.resolve("empty"));
        Run noConfig = demo("--model-dir", dir.resolve("empty").toString());
        assertEquals(2, noConfig.code());
        assertTrue(noConfig.err().contains("no config.json in"), noConfig.err());
    }
}
