package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.SegmentedTopK;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Keeps the top floor(keep * N_b + 0.5) tokens of every image by one score, over all the
 * image's tiles at once (no region budget): the shared last step of the CLS top-k, random and
 * FastV baselines. Runs K2 with each image as one segment.
 */
final class ImageTopK {
    private ImageTopK() {}

    static long budget(double keep, long n) {
        return (long) Math.floor(keep * n + 0.5);
    }

    /**
     * A ratio so close to 1 that an image keeps no token at all is an error rather than an empty
     * selection (the LM would run without the image). `largest` is the largest token count that
     * is rounded on its own (a tile, the whole image, or PTP's local tiles together): the image
     * keeps a token exactly when keep * largest rounds to at least 1.
     */
    static void keepsSomething(double ratio, int image, long tokens, long largest) {
        if (tokens > 0 && budget(1.0 - ratio, largest) == 0) {
            throw Args.error("ratio", "leave image " + image + " at least one of its " + tokens + " visual tokens (ratio <= "
                    + (1.0 - 0.5 / largest) + ")", ratio);
        }
    }

    static Selection select(TileLayout layout, Tensor scores, double ratio, Backend backend) {
        int images = layout.numImages();
        long[] ones = new long[images], tokens = new long[images], budgets = new long[images];
        for (int b = 0; b < images; b++) {
            ones[b] = 1;
            int first = layout.firstTile(b), last = layout.thumbnail(b);
            tokens[b] = layout.tokenOffset(last) + layout.tokens(last) - layout.tokenOffset(first);
            budgets[b] = budget(1.0 - ratio, tokens[b]);
            keepsSomething(ratio, b, tokens[b], tokens[b]);
        }
        try (TileLayout perImage = TileLayout.of(ones, tokens)) {
            Tensor k = Tensors.longs(scores.device(), budgets);
            SegmentedTopK.Result top = SegmentedTopK.select(scores, null, perImage, k, 0.0, false, backend);
            return new Selection(layout, top.kept(), perTileCounts(layout, top.kept()), null, null, null, top.fused());
        }
    }

    /** int64 [tiles] how many of the kept indices fall in each tile (on the kept's device). */
    static Tensor perTileCounts(TileLayout layout, Tensor kept) {
        long[] offsets = layout.tokenOffsets();
        long[] counts = new long[layout.numTiles()];
        for (long i : Tensors.toLongs(kept)) {
            int t = Arrays.binarySearch(offsets, i);
            t = t >= 0 ? t : -t - 2;
            while (t + 1 < offsets.length - 1 && offsets[t + 1] == i) t++;  // skip empty tiles
            counts[t]++;
        }
        return Tensors.longs(kept.device(), counts);
    }

    static Tensor scoresOn(float[] values, org.bytedeco.pytorch.Device device) {
        Tensor cpu = Tensors.floats(values, values.length);
        return device.is_cuda() ? cpu.to(device, ScalarType.Float) : cpu;
    }
}
