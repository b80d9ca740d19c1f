package dev.vtprune;

import static dev.vtprune.testing.Closed.assertGuarded;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.testing.Images;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Vtprune#builder()}: what it loads is what the hand wiring gives (bit for bit), every bad
 * argument is refused naming it with expected and actual, and the loaded model is closed once.
 */
class VtpruneTest {
    @TempDir
    Path dir;


    @Test
    void aLoadedPresetGivesWhatTheHandWiringGives() {
        BufferedImage im = Images.ovals(112, 56, 3);
        String prompt = "where is the red ball";
        PyramidTokenPruner.Config ptp = PyramidTokenPruner.Config.PAPER.withRatio(0.25).withAlpha(0.7);
        long[] keptByHand;
        float[] logitsByHand, unprunedByHand;
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("tiny"), 4, ScalarType.Float)) {
            PromptTemplate t = PromptTemplate.forFamily(model.config().family());
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), t.specials()), t);
            try (Result r = p.run(List.of(im), List.of(prompt), LvlmPipeline.Options.of(new PyramidTokenPruner(ptp)));
                 Result u = p.run(List.of(im), List.of(prompt), LvlmPipeline.Options.unpruned())) {
                keptByHand = r.selection().keptIndices();
                logitsByHand = Tensors.toFloats(r.logits());
                unprunedByHand = Tensors.toFloats(u.logits());
            }
        }
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").seed(4).method("ptp").ratio(0.25).alpha(0.7).load();
             Result r = vlm.run(im, prompt); Result u = vlm.runUnpruned(im, prompt)) {
            assertArrayEquals(keptByHand, r.selection().keptIndices());
            assertArrayEquals(logitsByHand, Tensors.toFloats(r.logits()));
            assertArrayEquals(unprunedByHand, Tensors.toFloats(u.logits()));
            assertNull(u.selection());
            assertTrue(vlm.randomWeights());
            assertEquals("ptp", vlm.method());
            assertEquals(0.25, ((PyramidTokenPruner) vlm.pruner()).config().ratio());
            assertTrue(vlm.tokenizer().describe().contains("UTF-8 bytes"), vlm.tokenizer().describe());
        }
    }

    @Test
    void ivtpGetsTheScaledLmLayersAndItsTextSide() {
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").method("ivtp").keep(2).load()) {
            IvtpPruner.Config c = vlm.ivtpConfig();
            assertEquals(1, c.lmLayers(), "round(12 * 3 / 32) of tiny's 3 LM layers");
            assertEquals(2, c.finalKeep());
            assertTrue(vlm.ivtpText() != null, "the LM stage runs: the pseudo-CLS needs CLIP's side");
            try (Result r = vlm.run(Images.ovals(112, 56, 5), "what is this?")) {
                assertTrue(r.lmStage() != null);
                assertArrayEquals(new long[] {3 * 2}, r.visualAfter(), "(2 tiles + thumbnail) x keep 2");
            }
        }
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").method("ivtp").lmLayers(0).load()) {
            assertNull(vlm.ivtpText(), "no LM stage, no text side");
        }
        try (LoadedModel vlm = Vtprune.builder().preset("tiny").method("none").load();
             Result r = vlm.run(Images.ovals(56, 56, 6), "what is this?")) {
            assertNull(vlm.pruner());
            assertNull(r.selection());
        }
    }

    private static void refused(Executable load, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, load);
        assertEquals(message, e.getMessage());
    }

    @Test
    void badArgumentsNameTheSetterWithExpectedAndActual() throws Exception {
        Vtprune.Builder b = Vtprune.builder();
        refused(() -> b.preset("huge"), "argument 'preset': unknown model preset 'huge'; presets: "
                + String.join(", ", ModelConfig.presetNames()));
        refused(() -> b.dtype("int4"), "argument 'dtype' must be float32, bfloat16, float16 or auto, got 'int4'");
        refused(() -> b.device("tpu"), "argument 'device' must be cpu, cuda or cuda:N, got 'tpu'");
        refused(() -> b.method("best"), "argument 'method' must be one of " + String.join(", ", Vtprune.METHODS) + ", got 'best'");
        refused(() -> b.ratio(1), "argument 'ratio' must be in [0, 1), got 1.0");
        refused(() -> b.ratio(Double.NaN), "argument 'ratio' must be in [0, 1), got NaN");
        refused(() -> b.alpha(-0.5), "argument 'alpha' must be in [0, 1], got -0.5");
        refused(() -> b.keep(0), "argument 'keep' must be >= 1, got 0");
        refused(() -> b.lmLayers(-1), "argument 'lmLayers' must be >= 0, got -1");
        refused(() -> b.modelDir(null), "argument 'modelDir' must not be null, got null");

        refused(() -> Vtprune.builder().load(), "argument 'modelDir' must be given (or a preset), got neither");
        Path nowhere = dir.resolve("nowhere");
        refused(() -> Vtprune.load(nowhere), "argument 'modelDir': " + nowhere + " does not exist");
        Path empty = Files.createDirectories(dir.resolve("empty"));
        refused(() -> Vtprune.load(empty), "argument 'modelDir': no config.json in " + empty);
        refused(() -> Vtprune.builder().preset("tiny").modelDir(empty).load(),
                "argument 'preset' must be left unset when modelDir is given, got 'tiny' and modelDir " + empty);
        refused(() -> Vtprune.builder().preset("tiny").keep(2).load(), "argument 'keep' applies to method ivtp only, got method 'ptp'");
        refused(() -> Vtprune.builder().preset("tiny").method("random").lmLayers(1).load(),
                "argument 'lmLayers' applies to method ivtp only, got method 'random'");
        refused(() -> Vtprune.builder().preset("tiny").method("ivtp").lmLayers(4).load(),
                "argument 'lmLayers' must be <= 3 (the LM's layers), got 4");
        refused(() -> Vtprune.builder().preset("tiny").method("ivtp").keep(5).load(),
                "argument 'keep' must be <= 4 (the visual tokens per tile), got 5");
        Files.writeString(empty.resolve("config.json"), dev.vtprune.model.DemoCheckpointTest.TINY_INTERNVL);
        refused(() -> Vtprune.builder().modelDir(empty).method("ivtp").load(), "argument 'lmLayers' must be 0 (the ViT stage only) "
                + "with this checkpoint: IVTP's LM stage needs CLIP's text tower, and " + empty + " has none (clip_config.json + "
                + "clip.* tensors, as ./vtprune train writes), got 1");
    }

    @Test
    void cudaWithoutADeviceIsRefusedBeforeAnyWeightIsBuilt() {
        assumeNoCuda();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Vtprune.builder().preset("internvl2-1b").device("cuda").load());
        assertTrue(e.getMessage().startsWith("argument 'device' is 'cuda', but there is no CUDA device usable by LibTorch"),
                e.getMessage());
    }

    private static void assumeNoCuda() {
        boolean cuda;
        try {
            cuda = org.bytedeco.pytorch.global.torch.cuda_is_available();
        } catch (Throwable t) {
            cuda = false;
        }
        org.junit.jupiter.api.Assumptions.assumeFalse(cuda, "a CUDA device is present");
    }

    @Test
    void useAfterCloseIsRefusedAndCloseIsIdempotent() {
        LoadedModel vlm = Vtprune.builder().preset("tiny").load();
        BufferedImage im = Images.ovals(56, 56, 1);
        List<Executable> uses = new ArrayList<>(List.of(() -> vlm.run(im, "what"), () -> vlm.runUnpruned(im, "what"),
                vlm::model, vlm::tokenizer, vlm::pipeline, vlm::config, vlm::options, vlm::pruner, vlm::template,
                vlm::ivtpText));
        assertGuarded(vlm, "LoadedModel", uses.toArray(new Executable[0]));
    }
}
