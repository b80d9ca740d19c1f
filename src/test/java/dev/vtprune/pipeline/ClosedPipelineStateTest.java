package dev.vtprune.pipeline;

import static dev.vtprune.testing.Closed.assertGuarded;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pipeline Result and the DJL-backed tokenizers refuse use after close; closing twice is fine. */
class ClosedPipelineStateTest {
    @TempDir
    Path dir;

    @Test
    void resultUseAfterClose() {
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("tiny"), 7, ScalarType.Float)) {
            PromptTemplate template = PromptTemplate.INTERNVL;
            LvlmPipeline pipeline = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()),
                    template);
            Result r = pipeline.run(List.of(LvlmPipelineTest.image(112, 56, 1)), List.of("what is this?"),
                    LvlmPipeline.Options.of(LvlmPipelineTest.ptp(0.5)));
            var selection = r.selection();
            var layout = r.layout();
            assertGuarded(r, "Result", r::logits, r::selection, r::layout, r::kvLengths, r::tilings);
            // the result owned its selection's layout: closed with it
            assertGuarded(layout, "TileLayout", layout::numTiles);
        }
    }

    @Test
    void tokenizersUseAfterClose() {
        HfTokenizer hf = HfTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.LLAMA_JSON, dir.resolve("hf"), "tokenizer.json"));
        assertGuarded(hf, "HfTokenizer", () -> hf.encode("hello", true), () -> hf.decode(new long[] {1}), () -> hf.tokenId("<s>"));
        SentencePieceTokenizer sp = SentencePieceTokenizer.load(TokenizerFiles.unpack(TokenizerFiles.LLAMA_MODEL, dir.resolve("sp"),
                "tokenizer.model"));
        assertGuarded(sp, "SentencePieceTokenizer", () -> sp.encode("hello", true), () -> sp.decode(new long[] {1}));
    }
}
