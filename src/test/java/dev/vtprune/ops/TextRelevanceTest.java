package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import static dev.vtprune.ops.RegionBudgetTest.assertMessage;

import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Data;
import dev.vtprune.testing.Gpu;
import dev.vtprune.testing.Oracle;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class TextRelevanceTest {
    // fp32 accumulation of at most a few hundred terms; the oracle reads the same rounded inputs.
    static final double ATOL = 1e-7, RTOL = 1e-4;

    static Stream<Arguments> probCases() {
        return Stream.of(
                // {heads, queries, visual} per image, dtype, seed
                Arguments.of(new int[][] {{1, 1, 1}}, "float32", 101L),
                Arguments.of(new int[][] {{16, 7, 37}}, "float32", 102L),
                Arguments.of(new int[][] {{16, 64, 576}}, "float32", 103L),
                Arguments.of(new int[][] {{4, 5, 13}, {4, 0, 11}, {4, 3, 1}}, "float32", 104L),
                Arguments.of(new int[][] {{8, 9, 101}, {8, 2, 7}}, "float16", 105L),
                Arguments.of(new int[][] {{8, 9, 101}}, "bfloat16", 106L));
    }

    @ParameterizedTest(name = "{0} {1} seed {2}")
    @MethodSource("probCases")
    void fromAttentionMatchesTheOracle(int[][] shapes, String dtype, long seed) {
        List<Tensor> attn = new ArrayList<>();
        for (int b = 0; b < shapes.length; b++) {
            attn.add(Data.rand(seed + b, dtype, shapes[b][0], shapes[b][1], shapes[b][2]).div(
                    new org.bytedeco.pytorch.Scalar(10)).to(Data.dtype(dtype)));
        }
        for (Reduce head : Reduce.values()) {
            for (Reduce text : Reduce.values()) {
                List<Double> want = new ArrayList<>();
                for (int b = 0; b < shapes.length; b++) {
                    for (double x : Oracle.textRelevance(Tensors.toDoubles(attn.get(b)), shapes[b][0], shapes[b][1],
                            shapes[b][2], head == Reduce.MAX, text == Reduce.MAX)) {
                        want.add(x);
                    }
                }
                double[] w = want.stream().mapToDouble(Double::doubleValue).toArray();
                for (Backend backend : Backend.values()) {
                    Approx.assertClose(w, Tensors.toDoubles(TextRelevance.fromAttention(attn, head, text, backend)), ATOL,
                            RTOL, backend + " head=" + head + " text=" + text);
                }
            }
        }
    }

    /** One image of the Q/K form: its sequence length, query and visual positions. */
    record Image(int keys, long[] queryPos, long[] visualPos) {}

    static long[] range(long from, long count) {
        long[] r = new long[(int) count];
        for (int i = 0; i < count; i++) r[i] = from + i;
        return r;
    }

    static Stream<Arguments> qkCases() {
        // visual tokens after a short system prompt, instruction after them (the LVLM layout);
        // one image whose first queries precede some visual tokens (causal zeros).
        Image llava = new Image(5 + 576 + 40, range(5 + 576, 40), range(5, 576));
        Image small = new Image(23, new long[] {0, 3, 9, 22}, range(2, 13));
        Image early = new Image(40, new long[] {4, 10, 39}, range(6, 30));
        Image one = new Image(1, new long[] {0}, new long[] {0});
        return Stream.of(
                // images, q heads, kv heads, head dim, strided, dtype, seed
                Arguments.of(List.of(small), 4, 4, 8, false, "float32", 111L),
                Arguments.of(List.of(small, early, one), 4, 2, 16, true, "float32", 112L),
                Arguments.of(List.of(llava), 16, 8, 64, true, "float32", 113L),
                Arguments.of(List.of(early, small), 6, 3, 32, false, "float16", 114L),
                Arguments.of(List.of(early), 2, 1, 32, true, "bfloat16", 115L));
    }

    @ParameterizedTest(name = "{0} Hq={1} Hkv={2} d={3} strided={4} {5} seed {6}")
    @MethodSource("qkCases")
    void fromQkMatchesTheMaterialisedOracle(List<Image> images, int qHeads, int kvHeads, int d, boolean strided,
                                            String dtype, long seed) {
        TextLayout.Builder builder = TextLayout.builder();
        int totalQ = 0, totalK = 0;
        for (Image im : images) {
            builder.add(im.keys, im.queryPos, im.visualPos);
            totalQ += im.queryPos.length;
            totalK += im.keys;
        }
        // strided: q and k come as [tokens, heads, d] viewed as [heads, tokens, d]
        Tensor q = strided ? Data.randn(seed, dtype, totalQ, qHeads, d).transpose(0, 1) : Data.randn(seed, dtype, qHeads, totalQ, d);
        Tensor k = strided ? Data.randn(seed + 1, dtype, totalK, kvHeads, d).transpose(0, 1)
                : Data.randn(seed + 1, dtype, kvHeads, totalK, d);
        try (TextLayout layout = builder.build()) {
            for (Reduce head : Reduce.values()) {
                for (Reduce text : Reduce.values()) {
                    List<Double> want = new ArrayList<>();
                    for (int b = 0; b < images.size(); b++) {
                        Image im = images.get(b);
                        double[] qb = Tensors.toDoubles(q.narrow(1, layout.queryOffset(b), im.queryPos.length));
                        double[] kb = Tensors.toDoubles(k.narrow(1, layout.keyOffset(b), im.keys));
                        double[] probs = Oracle.textAttentionFromQk(qb, kb, qHeads, kvHeads, im.queryPos.length, im.keys, d,
                                im.queryPos, im.visualPos, 1 / Math.sqrt(d));
                        for (double x : Oracle.textRelevance(probs, qHeads, im.queryPos.length, im.visualPos.length,
                                head == Reduce.MAX, text == Reduce.MAX)) {
                            want.add(x);
                        }
                    }
                    double[] w = want.stream().mapToDouble(Double::doubleValue).toArray();
                    for (Backend backend : Backend.values()) {
                        Approx.assertClose(w, Tensors.toDoubles(TextRelevance.fromQk(q, k, layout, Double.NaN, head, text,
                                backend)), ATOL, RTOL, backend + " head=" + head + " text=" + text);
                    }
                }
            }
        }
    }

    @Test
    void qkFormEqualsTheAttentionFormOnTheSameProbabilities() {
        // The materialised path (softmax over all keys, columns at the visual positions) and the
        // Q/K path must agree: this is what lets a pruner switch between them.
        Image im = new Image(60, new long[] {50, 55, 59}, range(10, 32));
        Tensor q = Data.randn(121, "float32", 8, 3, 16), k = Data.randn(122, "float32", 4, 60, 16);
        Tensor kx = k.repeat_interleave(2, new org.bytedeco.pytorch.LongOptional(0), new org.bytedeco.pytorch.LongOptional());
        Tensor causal = torch.arange(new org.bytedeco.pytorch.Scalar(60)).unsqueeze(0)
                .gt(Tensor.create(im.queryPos).unsqueeze(1));  // [Q, L]: key after the query
        Tensor probs = q.matmul(kx.transpose(1, 2)).div(new org.bytedeco.pytorch.Scalar(4.0))
                .masked_fill(causal, new org.bytedeco.pytorch.Scalar(Double.NEGATIVE_INFINITY)).softmax(2)
                .index_select(2, Tensor.create(im.visualPos)).contiguous();
        try (TextLayout layout = TextLayout.single(im.keys, im.queryPos, im.visualPos)) {
            Approx.assertClose(Tensors.toDoubles(TextRelevance.fromAttention(probs)),
                    Tensors.toDoubles(TextRelevance.fromQk(q, k, layout)), ATOL, RTOL, "Q/K vs attention");
        }
    }

    @Test
    void badInputsGiveClearErrors() {
        assertMessage(() -> TextRelevance.fromAttention(torch.rand(4, 5)), "'attn' must have rank 3 [heads, queries, visual]");
        assertMessage(() -> TextRelevance.fromAttention(torch.rand(4, 5, 6).transpose(1, 2)), "'attn' must be contiguous");
        assertMessage(() -> TextRelevance.fromAttention(List.of(torch.rand(4, 5, 6), torch.rand(3, 5, 6)), Reduce.MEAN,
                Reduce.MAX, Backend.NATIVE), "'attn[1]' must have size 4 (heads of attn[0]) on axis 0");
        assertMessage(() -> TextLayout.single(10, new long[] {10}, new long[] {1}),
                "'queryPos[0] of image 0' must be a position in [0, 10), got 10");
        assertMessage(() -> TextLayout.single(10, new long[] {3}, new long[] {-1}),
                "'visualPos[0] of image 0' must be a position in [0, 10), got -1");
        try (TextLayout layout = TextLayout.single(10, new long[] {8, 9}, new long[] {1, 2, 3})) {
            assertMessage(() -> TextRelevance.fromQk(torch.randn(4, 3, 8), torch.randn(2, 10, 8), layout),
                    "'q' must have size 2 (queries of the layout) on axis 1");
            assertMessage(() -> TextRelevance.fromQk(torch.randn(4, 2, 8), torch.randn(3, 10, 8), layout),
                    "'k' must have a number of kv heads dividing q's 4 heads");
            assertMessage(() -> TextRelevance.fromQk(torch.randn(4, 2, 8), torch.randn(2, 10, 4), layout),
                    "'k' must have size 8 (head_dim of q) on axis 2");
            assertMessage(() -> TextRelevance.fromQk(torch.randn(4, 2, 8), torch.randn(2, 10, 8).to(ScalarType.Half), layout),
                    "'k' must have the dtype of 'q' (float32)");
            assertMessage(() -> TextRelevance.fromQk(torch.randn(4, 8, 2).transpose(1, 2), torch.randn(2, 10, 8), layout),
                    "'q' must have a contiguous last axis");
        }
    }

    @Test
    void cudaMatchesCpu() {
        Device gpu = Gpu.require();
        // InternVL2-2B scale: 12 + 1 tiles of 256 visual tokens, 64 instruction tokens, GQA 16 / 8.
        long visual = 13 * 256, keys = 10 + visual + 64;
        try (TextLayout layout = TextLayout.single(keys, range(10 + visual, 64), range(10, visual))) {
            for (String dtype : new String[] {"float32", "float16", "bfloat16"}) {
                Tensor q = Data.randn(131, dtype, 16, 64, 128), k = Data.randn(132, dtype, 8, keys, 128);
                Tensor cpu = TextRelevance.fromQk(q, k, layout);
                Tensor cuda = TextRelevance.fromQk(q.to(gpu, Tensors.scalarType(q)), k.to(gpu, Tensors.scalarType(k)), layout);
                Approx.assertClose(Tensors.toDoubles(cpu), Tensors.toDoubles(cuda), ATOL, RTOL, dtype + " Q/K");
                Tensor attn = Data.rand(133, dtype, 16, 64, visual);
                Approx.assertClose(Tensors.toDoubles(TextRelevance.fromAttention(attn)),
                        Tensors.toDoubles(TextRelevance.fromAttention(attn.to(gpu, Tensors.scalarType(attn)))), ATOL, RTOL,
                        dtype + " attention");
            }
        }
    }
}
