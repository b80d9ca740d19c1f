package dev.vtprune.model;

import static dev.vtprune.model.ModelTesting.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile config.json files: what the Java fuzzer found (src/test/resources/fuzz/config/regressions:
 * Gson's two-line messages, an UncheckedIOException for invalid UTF-8, UnsupportedOperationException
 * and IllegalStateException from Gson's getters, configs with shapes no model can have), and the
 * per-key type and range checks they led to. Every refusal is a one-line IllegalArgumentException
 * naming the file, the key, what was expected and what came.
 */
class HfConfigHostileTest {
    @TempDir
    Path dir;

    static final Path REGRESSIONS = Path.of("src/test/resources/fuzz/config/regressions");

    static final String TINY_LLAVA;

    static {
        try {
            TINY_LLAVA = Files.readString(Path.of("src/test/resources/fuzz/config/seeds/tiny-llava-full.json"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Path write(String name, String json) throws IOException {
        return write(name, json.getBytes(StandardCharsets.UTF_8));
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(Files.createDirectories(dir.resolve(name)).resolve("config.json"), bytes);
    }

    private static void oneLine(String m) {
        assertFalse(m.contains("\n") || m.contains("\r"), "multi-line message: " + m);
        assertTrue(m.length() < 400, m.length() + "-char message: " + m);
    }

    /** What the fuzzer's inputs give now, file by file (the message after the file's path). */
    @Test
    void fuzzFindingsAreOneLineRefusalsNamingTheKey() {
        Map<String, String> expected = Map.ofEntries(
                Map.entry("truncated-json.json", ": not valid JSON (Unterminated string at line 1 column 11 path $.)"),
                Map.entry("invalid-utf8.json", ": not valid UTF-8 (malformed byte 0xee at offset 17)"),
                Map.entry("model-type-object.json", ": 'model_type' must be a string, got {}"),
                Map.entry("architectures-nested-array.json",
                        ": 'architectures' must be an array of class names (strings), got [[\"x\",\"x\"]]"),
                Map.entry("architectures-null.json", ": 'architectures' must be an array of class names (strings), got [null]"),
                Map.entry("llava-heads-not-dividing.json",
                        " vision_config: 'hidden_size' must be a multiple of 'num_attention_heads' (64), got 32"),
                Map.entry("llava-image-smaller-than-patch.json", " vision_config: 'image_size' must be >= 'patch_size' (48), got 42"),
                Map.entry("llava-grid-merge.json",
                        " vision_config: 'image_size' must be an integer in [-2147483648, 2147483647], got 1e308"),
                Map.entry("internvl-max-tiles-0.json", ": 'max_dynamic_patch' must be >= 'min_dynamic_patch' (1), got 0"),
                Map.entry("internvl-huge-tiles.json",
                        ": 'max_dynamic_patch' must keep the visual tokens ((maxTiles + 1) x 256 per tile) within 2^31 - 1, got 12000000"),
                Map.entry("internvl-long-string-value.json", " llm_config: 'rope_theta' must be a number, got [1000000.0]"),
                // The 120-s run: Gson's path held a 3,700-character key.
                Map.entry("long-key-invalid-json.json", ": not valid JSON (Expected ':' at line 1 column 3984 path "
                        + "$.text_config.num_key_v" + "s".repeat(137) + "... (3782 chars))"));
        for (var e : expected.entrySet()) {
            Path f = REGRESSIONS.resolve(e.getKey());
            String m = assertThrows(IllegalArgumentException.class, () -> ModelConfig.fromHuggingFace(f)).getMessage();
            assertEquals(f + e.getValue(), m);
            oneLine(m);
            // The CLIP reader shares the checks: any refusal is one line naming the file too.
            try {
                ClipTextModel.Config.fromHuggingFace(f);
            } catch (IllegalArgumentException clip) {
                assertTrue(clip.getMessage().startsWith(f.toString()), clip.getMessage());
                oneLine(clip.getMessage());
            }
        }
    }

    @Test
    void wrongJsonTypesAreRefusedNotCoerced() throws IOException {
        assertMessage(() -> ModelConfig.fromHuggingFace(write("a", TINY_LLAVA.replace("\"model_type\": \"llava\"",
                "\"model_type\": [\"llava\"]"))), ": 'model_type' must be a string, got [\"llava\"]");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("b", TINY_LLAVA.replace("\"attention_bias\": false",
                "\"attention_bias\": {}"))), "text_config: 'attention_bias' must be true or false (or 0 or 1), got {}");
        // Gson's getAsBoolean reads any string but "true" as false.
        assertMessage(() -> ModelConfig.fromHuggingFace(write("c", TINY_LLAVA.replace("\"attention_bias\": false",
                "\"attention_bias\": \"yes\""))), "'attention_bias' must be true or false (or 0 or 1), got \"yes\"");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("d", TINY_LLAVA.replace("\"attention_bias\": false",
                "\"attention_bias\": 2"))), "'attention_bias' must be true or false (or 0 or 1), got 2");
        // Gson's getAsDouble parses numeric strings; a config's numbers are JSON numbers.
        assertMessage(() -> ModelConfig.fromHuggingFace(write("e", TINY_LLAVA.replace("\"hidden_size\": 48",
                "\"hidden_size\": \"48\""))), "text_config: 'hidden_size' must be a number, got \"48\"");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("f", TINY_LLAVA.replace("\"rope_theta\": 10000.0",
                "\"rope_theta\": NaN"))), "text_config: 'rope_theta' must be a number, got \"NaN\"");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("g", TINY_LLAVA.replace("\"rope_theta\": 10000.0",
                "\"rope_theta\": 1e999"))), "text_config: 'rope_theta' must be a finite number, got 1e999");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("h", TINY_LLAVA.replace("[\"LlavaForConditionalGeneration\"]",
                "\"LlavaForConditionalGeneration\""))), "'architectures' must be an array of class names");
    }

    @Test
    void integersAreWholeAndInRange() throws IOException {
        // (int) 1e10 was Integer.MAX_VALUE, (int) 2.5 was 2.
        assertMessage(() -> ModelConfig.fromHuggingFace(write("a", TINY_LLAVA.replace("\"vocab_size\": 300",
                "\"vocab_size\": 1e10"))), "text_config: 'vocab_size' must be an integer in [-2147483648, 2147483647], got 1e10");
        assertMessage(() -> ModelConfig.fromHuggingFace(write("b", TINY_LLAVA.replace("\"vocab_size\": 300",
                "\"vocab_size\": 2.5"))), "'vocab_size' must be an integer", "got 2.5");
        assertEquals(300, ModelConfig.fromHuggingFace(write("c", TINY_LLAVA.replace("\"vocab_size\": 300",
                "\"vocab_size\": 300.0"))).language().vocab());
    }

    @Test
    void shapesNoModelCanHaveAreNamedByKey() throws IOException {
        String[][] cases = {
            {"\"num_attention_heads\": 4,", "\"num_attention_heads\": 0,",
                "text_config: 'num_attention_heads' must be >= 1, got 0"},
            {"\"hidden_size\": 48,", "\"hidden_size\": -48,", "text_config: 'hidden_size' must be >= 1, got -48"},
            {"\"hidden_size\": 48,", "\"hidden_size\": 50,",
                "text_config: 'hidden_size' must be a multiple of 'num_attention_heads' (4), got 50"},
            {"\"num_key_value_heads\": 4,", "\"num_key_value_heads\": 3,",
                "text_config: 'num_attention_heads' must be a multiple of 'num_key_value_heads' (3), got 4"},
            // 44 / 4 = 11: RoPE needs an even head dimension.
            {"\"hidden_size\": 48,", "\"hidden_size\": 44,",
                "text_config: 'hidden_size' must give an even head dimension with 'num_attention_heads' (4), got 44 (head dimension 11)"},
            {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0", "text_config: 'rms_norm_eps' must be finite and > 0, got 0.0"},
            {"\"max_position_embeddings\": 2048", "\"max_position_embeddings\": 0",
                "text_config: 'max_position_embeddings' must be >= 1, got 0"},
            {"\"hidden_size\": 32,", "\"hidden_size\": 33,",
                "vision_config: 'hidden_size' must be a multiple of 'num_attention_heads' (2), got 33"},
            {"\"patch_size\": 14,", "\"patch_size\": 0,", "vision_config: 'patch_size' must be >= 1, got 0"},
            {"\"image_size\": 42,", "\"image_size\": 10,", "vision_config: 'image_size' must be >= 'patch_size' (14), got 10"},
            {"\"image_size\": 42,", "\"image_size\": 2000000000,",
                "vision_config: 'image_size' must give at most 2^31 - 1 patches of 'patch_size' (14), got 2000000000"},
        };
        int i = 0;
        for (String[] c : cases) {
            assertTrue(TINY_LLAVA.contains(c[0]), c[0]);
            Path f = write("s" + i++, TINY_LLAVA.replace(c[0], c[1]));
            String m = assertMessage(() -> ModelConfig.fromHuggingFace(f), f + " " + c[2]);
            oneLine(m);
        }
    }

    @Test
    void longValuesAreCutInMessages() throws IOException {
        String huge = "s".repeat(3000);
        Path f = write("a", TINY_LLAVA.replace("\"image_size\": 42", "\"image_size\": \"" + huge + "\""));
        String m = assertMessage(() -> ModelConfig.fromHuggingFace(f), "'image_size' must be a number, got \"sss",
                "... (3002 chars)");
        oneLine(m);
        // Gson's position names the path of keys, here one of 3,000 characters.
        Path j = write("j", "{\"text_config\": {\"" + huge + "\" 1}}");
        oneLine(assertMessage(() -> ModelConfig.fromHuggingFace(j), ": not valid JSON (Expected ':' at line 1 column",
                "path $.text_config.sss", "... ("));
        Path g = write("b", "{\"model_type\": \"a\\nb\"}");  // a newline in a value stays escaped
        oneLine(assertMessage(() -> ModelConfig.fromHuggingFace(g), "unsupported architecture (model_type '\"a\\nb\"'"));
    }

    /** The CLI: exit 2 and the one-line message for both findings the brief names. */
    @Test
    void cliExitsTwoWithOneLine() throws IOException {
        for (Path bad : new Path[] {REGRESSIONS.resolve("truncated-json.json"), REGRESSIONS.resolve("invalid-utf8.json")}) {
            Path model = Files.createDirectories(dir.resolve("m-" + bad.getFileName()));
            Files.copy(bad, model.resolve("config.json"));
            Files.writeString(model.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordLevel\"}}");
            ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            int code = Main.run(new String[] {"eval", "--model-dir", model.toString()},
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
            String e = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, e);
            assertEquals(1, e.strip().lines().count(), e);
            assertTrue(e.contains(model.resolve("config.json") + ": not valid"), e);
        }
    }
}
