package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.RandomPruner;
import dev.vtprune.prune.TokenPruner;
import dev.vtprune.testing.Concurrency;
import dev.vtprune.testing.Concurrency.Answer;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * One loaded pipeline shared by 16 threads running mixed requests (images of 1 to 4 tiles,
 * different prompts, unpruned, PTP, random and FastV) gives every request exactly what the same
 * request gives when run alone: the same kept tokens and bit-identical last logits. This is what
 * lets a service hold one model for all its request threads.
 */
class ConcurrentPipelineTest {
    record Request(BufferedImage image, String prompt, int method) {}

    private static TokenPruner pruner(int method) {
        return switch (method) {
            case 1 -> new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withRatio(0.5));
            case 2 -> new RandomPruner(0.25, 11);
            case 3 -> new FastVPruner(0.5, 1, dev.vtprune.ops.Backend.NATIVE);
            default -> null;
        };
    }

    private static Answer run(LvlmPipeline p, Request r) {
        TokenPruner pruner = pruner(r.method);
        LvlmPipeline.Options options = pruner == null ? LvlmPipeline.Options.unpruned() : LvlmPipeline.Options.of(pruner);
        try (PointerScope scope = new PointerScope();
             Result res = p.run(List.of(r.image), List.of(r.prompt), options)) {
            return Answer.of(res);
        }
    }

    @Test
    void sixteenThreadsOnOnePipelineGiveTheSerialAnswers() throws Exception {
        String[] prompts = {"what is this?", "where is the red ball", "count the circles on the left side", "describe it"};
        int[][] sizes = {{56, 56}, {112, 56}, {112, 112}, {56, 112}};
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            int[] s = sizes[i % sizes.length];
            requests.add(new Request(LvlmPipelineTest.image(s[0], s[1], 100 + i), prompts[(i / 4) % prompts.length], i % 4));
        }
        int threads = torch.get_num_threads();
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("tiny"), 7, ScalarType.Float)) {
            PromptTemplate template = PromptTemplate.INTERNVL;
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()),
                    template);
            Concurrency.assertSerialAnswers(requests, 16, 2, r -> run(p, r), i -> "request " + i);
        }
        assertEquals(threads, torch.get_num_threads(), "the test leaves LibTorch's thread setting alone");
    }
}
