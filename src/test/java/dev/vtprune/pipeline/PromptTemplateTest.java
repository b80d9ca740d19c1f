package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chat layouts against the prompt strings the models' own code builds, tokenized whole by a
 * real tokenizer: InternVL2's chat() query with one {@code <IMG_CONTEXT>} per visual token, and
 * llava-1.5-hf's prompt with {@code <image>} expanded to the visual tokens.
 */
class PromptTemplateTest {
    @TempDir
    Path dir;

    static final String Q = "What is written on the sign, next to the 2 red balls?";

    @Test
    void internVlLayoutIsTheChatQueryTokenized() throws Exception {
        Path d = dir.resolve("internvl");
        TokenizerFiles.unpack(TokenizerFiles.LLAMA_MODEL, d, "tokenizer.model");
        Files.writeString(d.resolve("added_tokens.json"),
                "{\"<|im_start|>\": 32000, \"<|im_end|>\": 32001, \"<img>\": 32002, \"</img>\": 32003, \"<IMG_CONTEXT>\": 32004}");
        try (Tokenizer t = Tokenizer.forCheckpoint(d)) {
            int n = 7;
            // InternVL2's chat(): the MPT-style conversation with the system message, then <image> replaced
            String query = "<|im_start|>system\n" + PromptTemplate.INTERNVL2_SYSTEM + "<|im_end|><|im_start|>user\n" + "<img>"
                    + "<IMG_CONTEXT>".repeat(n) + "</img>\n" + Q + "<|im_end|><|im_start|>assistant\n";
            PromptTemplate.Layout l = PromptTemplate.INTERNVL.layout(t, n, Q);
            assertArrayEquals(t.encode(query, true).ids(), l.ids());
            assertEquals(1, l.ids()[0]);  // BOS, as the InternLM2 tokenizer adds it
            assertEquals(32002, l.ids()[l.visualStart() - 1]);
            for (long p : l.visualPositions()) assertEquals(32004, l.ids()[(int) p]);
            assertEquals(32003, l.ids()[l.visualStart() + n]);
            assertEquals(Q, t.decode(slice(l.ids(), l.instructionStart(), l.instructionCount())));
            assertEquals(32001, l.ids()[l.instructionStart() + l.instructionCount()]);
            // fewer visual tokens (after pruning): the same text tokens
            PromptTemplate.Layout p = PromptTemplate.INTERNVL.layout(t, 2, Q);
            assertEquals(l.length() - 5, p.length());
            assertArrayEquals(slice(l.ids(), l.instructionStart(), l.instructionCount()),
                    slice(p.ids(), p.instructionStart(), p.instructionCount()));
        }
    }

    @Test
    void llavaLayoutExpandsTheImageToken() {
        Path json = TokenizerFiles.llamaJsonWithAddedTokens(dir.resolve("llava"), "<image>");
        try (Tokenizer t = Tokenizer.forCheckpoint(json.getParent())) {
            int n = 5;
            PromptTemplate.Layout l = PromptTemplate.LLAVA.layout(t, n, Q);
            long[] once = t.encode("USER: <image>\n" + Q + " ASSISTANT:", true).ids();
            assertEquals(once.length - 1 + n, l.length());
            assertEquals(n, Arrays.stream(l.ids()).filter(id -> id == 32000).count());
            for (long p : l.visualPositions()) assertEquals(32000, l.ids()[(int) p]);
            assertArrayEquals(slice(once, 0, l.visualStart()), slice(l.ids(), 0, l.visualStart()));
            assertEquals(Q, t.decode(slice(l.ids(), l.instructionStart(), l.instructionCount())).strip());
            assertEquals(" ASSISTANT:", t.decode(slice(l.ids(), l.instructionStart() + l.instructionCount(),
                    l.length() - l.instructionStart() - l.instructionCount())).replaceFirst("^(?! )", " "));
        }
    }

    @Test
    void byteTokenizerKeepsTheTemplatesTokensWhole() {
        try (ByteTokenizer t = new ByteTokenizer(4096, PromptTemplate.INTERNVL.specials())) {
            PromptTemplate.Layout l = PromptTemplate.INTERNVL.layout(t, 3, "hi?");
            assertEquals(3, l.instructionCount());
            assertEquals("hi?", t.decode(slice(l.ids(), l.instructionStart(), 3)));
            assertEquals(t.tokenId("<img>"), l.ids()[l.visualStart() - 1]);
            assertEquals(t.tokenId("</img>"), l.ids()[l.visualStart() + 3]);
            PromptTemplate.Layout empty = PromptTemplate.INTERNVL.layout(t, 3, "");
            assertEquals(0, empty.instructionCount());
            assertEquals(l.instructionStart(), empty.instructionStart());
        }
    }

    @Test
    void badInputIsAClearError() {
        try (ByteTokenizer plain = new ByteTokenizer(4096); ByteTokenizer t = new ByteTokenizer(4096, PromptTemplate.LLAVA.specials())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptTemplate.LLAVA.layout(plain, 3, "x"));
            assertTrue(e.getMessage().contains("'<image>' is not one token"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> PromptTemplate.LLAVA.layout(t, 3, "two <image> here"));
            assertTrue(e.getMessage().contains("argument 'instruction'"), e.getMessage());
        }
    }

    private static long[] slice(long[] a, int from, int n) {
        return Arrays.copyOfRange(a, from, from + n);
    }
}
