package dev.vtprune.model;

import dev.vtprune.internal.Args;
import dev.vtprune.ops.Backend;
import dev.vtprune.ops.Rollout;
import java.util.List;

/**
 * Group-wise token pruning inside the vision encoder (IVTP §3.2, the ViT stage): what
 * {@link VisionEncoder#forward(org.bytedeco.pytorch.Tensor, VitPruning)} does. The layers that
 * run are cut into groups of {@code groupSize} (a shorter last group when the depth is not a
 * multiple: LLaVA's 23 layers give 7 groups of 3 and one of 2); at the top layer of group p the
 * CLS row of the group's rollout (eq. 3, from each layer's Q/K) times the top layer's value
 * norms (eq. 4) scores the remaining patches, and only {@code keep[p]} units stay for the next
 * group. The CLS token always stays; the position embeddings were added before layer 0 and
 * travel with their tokens.
 *
 * <p>The unit is an {@code merge x merge} block of patches: 1 x 1 for LLaVA (each patch is a
 * visual token), 2 x 2 for InternVL, whose pixel shuffle needs complete blocks. A block's score
 * is the sum of its patches' (eq. 4 already sums to 1 over the patches, so block scores do
 * too), and a kept block keeps all its patches, so the projector can still pixel-shuffle the
 * kept blocks into exactly the merged tokens the LM sees. Counts are therefore in the LM's
 * visual tokens for both families.
 *
 * @param groupSize      layers per group (>= 1)
 * @param keep           units (visual tokens after the merge) kept per tile after each group,
 *                       one per group, non-increasing, each >= 1; a count at or above the
 *                       units present keeps them all
 * @param merge          block side m (the model's pixel-shuffle factor; 1 for none)
 * @param valueWeighting weight by value norms (eq. 4); false: the rollout row alone
 * @param mode           rollout form
 * @param backend        native rollout and top-k, or their LibTorch compositions
 */
public record VitPruning(int groupSize, long[] keep, int merge, boolean valueWeighting, Rollout.Mode mode,
                         Backend backend) {
    public VitPruning {
        Args.atLeast(groupSize, "groupSize", 1);
        Args.notNull(keep, "keep");
        keep = keep.clone();
        for (int i = 0; i < keep.length; i++) {
            Args.atLeast(keep[i], "keep[" + i + "]", 1);
            if (i > 0 && keep[i] > keep[i - 1]) {
                throw Args.error("keep[" + i + "]", "be <= keep[" + (i - 1) + "] = " + keep[i - 1], keep[i]);
            }
        }
        Args.atLeast(merge, "merge", 1);
        Args.notNull(mode, "mode");
        Args.notNull(backend, "backend");
    }

    @Override
    public long[] keep() {
        return keep.clone();
    }

    /** Groups of an encoder with `layers` layers. */
    public int groups(int layers) {
        return (layers + groupSize - 1) / groupSize;
    }

    /** Whether layer i (0-based) of `layers` is the top of its group: a pruning point. */
    public boolean isTop(int i, int layers) {
        return (i + 1) % groupSize == 0 || i == layers - 1;
    }

    /**
     * What one pruning point saw and decided, per tile, on the host (for reports, dumps and
     * tests). Patch ids are original row-major grid indices (0-based, CLS excluded).
     *
     * @param layer      the top layer of the group (0-based)
     * @param patches    [tiles][n] the patches present at this point, ascending (their order
     *                   in the sequence after the CLS)
     * @param importance [tiles][n] eq. 4 importance of those patches (sums to 1 per tile)
     * @param kept       [tiles][n'] the patches that stay, ascending
     * @param ms         wall time of the decision (rollout, top-k, gather), milliseconds
     */
    public record Step(int layer, long[][] patches, double[][] importance, long[][] kept, double ms) {}

    /**
     * The result of a pruned encoder forward beyond {@link VisionOutput}'s states.
     *
     * @param steps  one per pruning point, in order
     * @param tokens [tiles][k] merged-token ids (block ids i (g/m) + j) the tile keeps at the
     *               end, ascending: the visual tokens the LM sees
     */
    public record Trace(List<Step> steps, long[][] tokens) {}
}
