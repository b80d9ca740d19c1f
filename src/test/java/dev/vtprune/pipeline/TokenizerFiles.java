package dev.vtprune.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
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
}
