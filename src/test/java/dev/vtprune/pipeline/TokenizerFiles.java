package dev.vtprune.pipeline;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.GZIPInputStream;

/** The real tokenizer files of src/test/resources/tokenizers (gzipped there), unpacked for a test. */
final class TokenizerFiles {
    static final String CLIP = "clip-vit-tokenizer.json", LLAMA_JSON = "llama-bpe-tokenizer.json",
            LLAMA_MODEL = "llama-sentencepiece.model";

    private TokenizerFiles() {}

    /** Unpacks `name` into `dir` as `as`. */
    static Path unpack(String name, Path dir, String as) {
        try (InputStream in = TokenizerFiles.class.getResourceAsStream("/tokenizers/" + name + ".gz")) {
            if (in == null) throw new IllegalStateException("test resource /tokenizers/" + name + ".gz is missing");
            Path f = dir.resolve(as);
            Files.createDirectories(dir);
            Files.copy(new GZIPInputStream(in), f, StandardCopyOption.REPLACE_EXISTING);
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The Llama tokenizer.json in `dir` with `tokens` added as special tokens from id 32,000 on
     * (where InternVL2 and llava-hf put theirs), in place of the file's own Phi-3 extras.
     */
    static Path llamaJsonWithAddedTokens(Path dir, String... tokens) {
        Path f = unpack(LLAMA_JSON, dir, "tokenizer.json");
        try {
            JsonObject json = JsonParser.parseString(Files.readString(f, StandardCharsets.UTF_8)).getAsJsonObject();
            JsonArray added = json.getAsJsonArray("added_tokens");
            added.asList().removeIf(e -> e.getAsJsonObject().get("id").getAsInt() >= 32000);
            for (int i = 0; i < tokens.length; i++) {
                JsonObject t = new JsonObject();
                t.addProperty("id", 32000 + i);
                t.addProperty("content", tokens[i]);
                t.addProperty("single_word", false);
                t.addProperty("lstrip", false);
                t.addProperty("rstrip", false);
                t.addProperty("normalized", false);
                t.addProperty("special", true);
                added.add(t);
            }
            Files.writeString(f, json.toString());
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The model.vocab object of a tokenizer.json: token string to id, read independently of the library. */
    static JsonObject vocab(Path json) {
        try {
            return JsonParser.parseString(Files.readString(json, StandardCharsets.UTF_8)).getAsJsonObject().getAsJsonObject("model")
                    .getAsJsonObject("vocab");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
