package dev.vtprune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.Generation;
import dev.vtprune.GenerationConfig;
import dev.vtprune.LoadedModel;
import dev.vtprune.TokenListener;
import dev.vtprune.Vtprune;
import dev.vtprune.internal.Tensors;
import dev.vtprune.model.LmPruning;
import dev.vtprune.model.VitPruning;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.image.SampleImage;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The README's Java examples ("## From Java", "## IVTP from Java and the shell") are this test's
 * code: the test runs them on the tiny preset and checks what they claim, and fails when a
 * README block and the code between its markers below differ by a character (indentation
 * aside), so neither can drift.
 */
class ReadmeExampleTest {
    @Test
    void theReadmeExampleRuns() {
        // README:begin
        BufferedImage image = SampleImage.load();            // or ImageLoader.load(Path.of("photo.jpg"))
        try (LoadedModel vlm = Vtprune.builder()
                     .preset("tiny")                          // or .modelDir(Path.of("InternVL2-2B"))
                     .device("cpu").dtype("float32")          // or "cuda", "bfloat16"; "auto" = the checkpoint's
                     .method("ptp").ratio(0.5).alpha(0.5)     // or "ivtp" (.keep, .lmLayers), "none", baselines
                     .load();
             Result pruned = vlm.run(image, "Where is the red ball?");
             Result full = vlm.runUnpruned(image, "Where is the red ball?")) {
            long[] kept = pruned.selection().keptIndices();  // the visual tokens the LM saw, per tile ascending
            long before = full.kvLengths()[0], after = pruned.kvLengths()[0];  // the LM's KV cache, unpruned vs pruned
            Tensor logits = pruned.logits();                  // [1, vocab]: the first generated token's
            // README:end
            long visual = full.visualBefore()[0];
            assertEquals(visual / 2, kept.length, "r = 0.5 drops half of the visual tokens");
            assertEquals(before - visual / 2, after, "the KV cache is shorter by the dropped tokens");
            assertArrayEquals(new long[] {1, vlm.config().language().vocab()}, logits.shape());
            long[] sorted = kept.clone();
            java.util.Arrays.sort(sorted);
            assertArrayEquals(sorted, kept, "kept in the original order");
            assertTrue(Tensors.toFloats(logits).length > 0);
        }
    }

    /** The README's generation example ("### Generating answers"), run on the tiny preset. */
    @Test
    void theReadmeGenerationExampleRuns() {
        // README-generate:begin
        BufferedImage image = SampleImage.load();
        GenerationConfig greedy = GenerationConfig.builder().maxNewTokens(8).build();  // temperature 0: argmax
        GenerationConfig sampled = GenerationConfig.builder().maxNewTokens(8)
                .temperature(0.7).topP(0.9).seed(42)          // the same seed, the same answer
                .stopTokens(13).build();                      // besides the tokenizer's end of turn
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").method("ptp").ratio(0.5).load()) {
            StringBuilder streamed = new StringBuilder();
            Generation answer = vlm.generate(image, "Where is the red ball?", greedy,
                    (i, id, piece) -> streamed.append(piece));  // each token as it comes
            Generation baseline = vlm.generateUnpruned(image, "Where is the red ball?", sampled, TokenListener.NONE);
            double ttft = answer.ttftMs(), speed = answer.decodeTokensPerSecond();  // prefill and decode apart
            long[] ids = answer.tokens();                     // the stop token, if one came, excluded
            // README-generate:end
            assertTrue(ids.length <= 8 && baseline.tokens().length <= 8);
            assertTrue(answer.text().startsWith(streamed.toString()));
            assertTrue(ttft > 0 && (ids.length < 2 || speed > 0), answer.toString());
        }
    }

    @Test
    void theReadmeIvtpExampleRuns() {
        BufferedImage image = SampleImage.load();
        // README-ivtp:begin
        try (LoadedModel vlm = Vtprune.builder()
                     .preset("tiny")
                     .method("ivtp").keep(2).lmLayers(3)      // 2 visual tokens per tile at the end; GTP in LM layers 0-2
                     .load();
             Result r = vlm.run(image, "Where is the red ball?")) {
            for (VitPruning.Step s : r.vitTrace().steps()) {   // one per group of ViT layers: ids kept per tile
                System.out.println("ViT layer " + s.layer() + ": tile 0 keeps " + s.kept()[0].length + " of " + s.patches()[0].length);
            }
            Result.LmStage lm = r.lmStage();                   // the LM stage, against the CLIP-text pseudo-CLS
            for (LmPruning.Step s : lm.steps()) {
                System.out.println("LM layer " + s.layer() + ": keeps " + s.kept()[0].length + " of " + s.present()[0].length);
            }
            for (Result.LmStage.Word w : lm.words()) {         // eq. 7 relevance per word; eq. 8's choice
                System.out.println(w.text() + " " + w.relevance() + (w.selected() ? " *" : ""));
            }
            // README-ivtp:end
            int tiles = r.tilings().get(0).size();
            List<LmPruning.Step> steps = lm.steps();
            assertTrue(!r.vitTrace().steps().isEmpty() && !steps.isEmpty(), "both stages prune");
            assertEquals(tiles * 2L, steps.get(steps.size() - 1).kept()[0].length, "keep(2) per tile at the end");
            assertEquals(tiles * 2L, r.visualAfter()[0], "the LM saw the final count");
            for (VitPruning.Step s : r.vitTrace().steps()) {
                assertTrue(s.kept()[0].length <= s.patches()[0].length, "a ViT step never grows");
            }
            assertEquals(List.of("Where", "is", "the", "red", "ball?"),
                    lm.words().stream().map(Result.LmStage.Word::text).toList(), "the instruction's words");
        }
    }

    @Test
    void theReadmeShowsThisCode() throws Exception {
        assertReadmeBlockIs("## From Java", "README");
    }

    @Test
    void theReadmeShowsThisIvtpCode() throws Exception {
        assertReadmeBlockIs("## IVTP from Java and the shell", "README-ivtp");
    }

    @Test
    void theReadmeShowsThisGenerationCode() throws Exception {
        assertReadmeBlockIs("### Generating answers", "README-generate");
    }

    /**
     * The first java block after the heading is the code between this file's
     * {@code // <marker>:begin} and {@code :end} lines, plus the try's closing brace, and each of
     * its imports is one of this file's.
     */
    private static void assertReadmeBlockIs(String heading, String marker) throws Exception {
        Path root = Path.of(System.getProperty("user.dir"));
        List<String> readme = javaBlockAfter(Files.readAllLines(root.resolve("README.md"), StandardCharsets.UTF_8), heading);
        List<String> source = Files.readAllLines(root.resolve("src/test/java/dev/vtprune/ReadmeExampleTest.java"),
                StandardCharsets.UTF_8);
        List<String> code = new ArrayList<>(), imports = new ArrayList<>();
        for (String line : readme) (line.startsWith("import ") ? imports : code).add(line);
        while (!code.isEmpty() && code.get(0).isBlank()) code.remove(0);
        assertEquals("}", code.remove(code.size() - 1), "the README block under '" + heading + "' ends by closing the try");
        for (String i : imports) assertTrue(source.contains(i), "the README's '" + i + "' is one of this test's imports");
        int begin = indexOfTrimmed(source, "// " + marker + ":begin"), end = indexOfTrimmed(source, "// " + marker + ":end");
        assertTrue(begin >= 0 && end > begin, "markers " + marker + ":begin/end in this file");
        assertEquals(dedent(source.subList(begin + 1, end)), dedent(code), "README.md's block under '" + heading
                + "' and ReadmeExampleTest's code between the " + marker + " markers");
    }

    private static int indexOfTrimmed(List<String> lines, String text) {
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).trim().equals(text)) return i;
        return -1;
    }

    /** The lines of the first ```java block after the heading. */
    private static List<String> javaBlockAfter(List<String> lines, String heading) {
        int at = lines.indexOf(heading);
        assertTrue(at >= 0, "README.md has the heading '" + heading + "'");
        while (!lines.get(at).equals("```java")) at++;
        int end = at + 1;
        while (!lines.get(end).equals("```")) end++;
        return new ArrayList<>(lines.subList(at + 1, end));
    }

    /** The lines without their common leading spaces. */
    private static List<String> dedent(List<String> lines) {
        int common = Integer.MAX_VALUE;
        for (String l : lines) if (!l.isBlank()) common = Math.min(common, l.length() - l.stripLeading().length());
        List<String> out = new ArrayList<>();
        for (String l : lines) out.add(l.isBlank() ? "" : l.substring(common));
        return out;
    }
}
