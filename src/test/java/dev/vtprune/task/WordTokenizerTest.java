package dev.vtprune.task;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.pipeline.PromptTemplate;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WordTokenizerTest {
    private final WordTokenizer tok = WordTokenizer.task();

    @Test
    void everyWordOfTheTaskIsKnown() {
        int unk = tok.id(WordTokenizer.UNK);
        for (long i = 0; i < 500; i++) {
            VqaTask.Sample s = VqaTask.sample(11, i, 5);
            StringBuilder text = new StringBuilder(s.scene().caption(0, 0, VqaTask.WIDTH, VqaTask.HEIGHT));
            for (Question q : s.questions()) text.append(' ').append(q.text()).append(' ').append(q.answer());
            for (long id : tok.encode(text.toString())) assertTrue(id != unk, "unknown word in: " + text);
            for (Question q : s.questions()) assertEquals(1, tok.encode(q.answer()).length, "answer is one token: " + q.answer());
        }
    }

    @Test
    void specialsAreSingleTokensAndWordsSplitOnWhitespaceAndPunctuation() {
        long[] ids = tok.encode("<|im_start|>user\n<img>");
        assertArrayEquals(new long[] {tok.id("<|im_start|>"), tok.id("user"), tok.id("<img>")}, ids);
        assertArrayEquals(new long[] {tok.id("what"), tok.id("colour"), tok.id("?")}, tok.encode("  WHAT colour?"));
        assertArrayEquals(new long[] {tok.id("red"), tok.id(WordTokenizer.UNK)}, tok.encode("red zebra"));
        PromptTemplate.Layout l = PromptTemplate.INTERNVL.layout(tok, 3, "is there a red circle ?");
        assertEquals(6, l.instructionCount());
        assertEquals(0, tok.id(WordTokenizer.PAD), "visual placeholder slots hold id 0 = <pad>");
    }

    @Test
    void jsonRoundTripInTheHuggingFaceWordLevelFormat(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        tok.write(f);
        JsonObject json = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
        assertEquals("WordLevel", json.getAsJsonObject("model").get("type").getAsString());
        assertEquals("<unk>", json.getAsJsonObject("model").get("unk_token").getAsString());
        assertEquals(tok.size(), json.getAsJsonObject("model").getAsJsonObject("vocab").size());
        assertTrue(WordTokenizer.isWordLevel(f));
        WordTokenizer back = WordTokenizer.load(f);
        String text = "<|im_start|>user\n<img></img>\nhow many blue objects are there ?<|im_end|>\n<|im_start|>assistant\n";
        assertArrayEquals(tok.encode(text), back.encode(text));
        assertEquals(tok.size(), back.size());
        for (int i = 0; i < tok.size(); i++) assertEquals(tok.word(i), back.word(i));
    }

    @Test
    void badInput(@TempDir Path dir) throws Exception {
        assertThrows(IllegalArgumentException.class, () -> tok.id("zebra"));
        assertThrows(IllegalArgumentException.class, () -> tok.word(tok.size()));
        Path f = dir.resolve("bpe.json");
        Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WordTokenizer.load(f));
        assertTrue(e.getMessage().contains("WordLevel"), e.getMessage());
    }
}
