package dev.vtprune.prune;

import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Args;
import dev.vtprune.internal.OpScope;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;

/**
 * Which visual tokens a pruner keeps, for a batch of images laid out by a {@link TileLayout}.
 *
 * <p>{@code kept} holds global token indices in ascending order (the original order of the
 * tokens is preserved, so positional structure survives the gather). The per-tile and
 * per-region fields are there for inspection and for the command line's output.
 *
 * <p>Owns its tensors: close() frees them (idempotent); an enclosing PointerScope or the GC
 * otherwise.
 */
public final class Selection implements AutoCloseable {
    private final Closing closing = new Closing("Selection");
    private final TileLayout layout;
    private final Tensor kept, keptPerTile, budgets, regionScores, regionWeights, tokenScores;

    /**
     * @param layout        the tiles of the batch
     * @param kept          int64 [K] kept global token indices, ascending
     * @param keptPerTile   int64 [tiles] tokens kept per tile
     * @param budgets       int64 [tiles] the budget each tile was given (>= keptPerTile), or null
     * @param regionScores  float32 [tiles] region scores (cosine to the thumbnail; 1 for
     *                      thumbnails), or null when the method has none
     * @param regionWeights float32 [tiles] region softmax weights (0 for thumbnails), or null
     * @param tokenScores   float32 [N] the per-token scores the selection ranked, or null
     */
    public Selection(TileLayout layout, Tensor kept, Tensor keptPerTile, Tensor budgets, Tensor regionScores,
                     Tensor regionWeights, Tensor tokenScores) {
        this.layout = Args.notNull(layout, "layout");
        this.kept = Args.defined(kept, "kept");
        this.keptPerTile = Args.defined(keptPerTile, "keptPerTile");
        this.budgets = budgets;
        this.regionScores = regionScores;
        this.regionWeights = regionWeights;
        this.tokenScores = tokenScores;
    }

    /**
     * Runs a pruner's selection in an {@link OpScope}: every temporary tensor it creates is freed
     * before this returns and only the selection's own tensors leave, owned by the selection.
     * Without it the temporaries would wait for the garbage collector, and with
     * {@code -Dorg.bytedeco.javacpp.nopointergc=true} never be freed. The tensors of `select`'s
     * result must be created inside it (never a caller's tensor).
     */
    static Selection owned(Supplier<Selection> select) {
        try (OpScope scope = new OpScope()) {
            Selection s = select.get();
            for (Tensor t : new Tensor[] {s.kept, s.keptPerTile, s.budgets, s.regionScores, s.regionWeights, s.tokenScores}) {
                if (t != null) scope.keep(t);
            }
            return s;
        }
    }

    public TileLayout layout() {
        closing.check();
        return layout;
    }

    /** int64 [K] kept global token indices, ascending, on the device of the inputs. */
    public Tensor kept() {
        closing.check();
        return kept;
    }

    public Tensor keptPerTile() {
        closing.check();
        return keptPerTile;
    }

    /** int64 [tiles] budgets, or null. */
    public Tensor budgets() {
        closing.check();
        return budgets;
    }

    public Tensor regionScores() {
        closing.check();
        return regionScores;
    }

    public Tensor regionWeights() {
        closing.check();
        return regionWeights;
    }

    public Tensor tokenScores() {
        closing.check();
        return tokenScores;
    }

    public long numKept() {
        closing.check();
        return kept.size(0);
    }

    /** Kept tokens of each image. */
    public long[] keptPerImage() {
        closing.check();
        long[] perTile = Tensors.toLongs(keptPerTile);
        long[] out = new long[layout.numImages()];
        for (int b = 0; b < out.length; b++) {
            for (int t = layout.firstTile(b); t <= layout.thumbnail(b); t++) out[b] += perTile[t];
        }
        return out;
    }

    /** The kept indices on the host. */
    public long[] keptIndices() {
        closing.check();
        return Tensors.toLongs(kept);
    }

    /** bool [N] true for kept tokens. */
    public boolean[] keepMask() {
        closing.check();
        boolean[] mask = new boolean[(int) layout.numTokens()];
        for (long i : keptIndices()) mask[(int) i] = true;
        return mask;
    }

    /**
     * The kept rows of per-token features {@code visual} [N, D] (any dtype, same device):
     * [K, D], in the original token order.
     */
    public Tensor gather(Tensor visual) {
        closing.check();
        Args.defined(visual, "visual");
        if (visual.dim() < 1 || visual.size(0) != layout.numTokens()) {
            throw Args.error("visual", "have " + layout.numTokens() + " rows (one per visual token)", Tensors.describe(visual));
        }
        Args.sameDevice(kept, "the selection", visual, "visual");
        return visual.index_select(0, kept);
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        Tensors.closeAll(kept, keptPerTile, budgets, regionScores, regionWeights, tokenScores);
    }
}
