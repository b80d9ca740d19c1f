package dev.vtprune.pipeline;

import dev.vtprune.internal.Closing;
import dev.vtprune.model.Prefill;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.image.Tiling;
import dev.vtprune.prune.Selection;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * One pipeline run: the tilings, the visual-token layout, the selection (null when unpruned),
 * the prefill's last-position logits and KV cache, token counts and stage timings. Owns its
 * tensors: close() frees them.
 */
public final class Result implements AutoCloseable {
    private final Closing closing = new Closing("Result");
    private final List<Tiling> tilings;
    private final TileLayout layout;
    private final Selection selection;
    private final Prefill prefill;
    private final long[] visualBefore, visualAfter, sequenceLengths;
    private final Timings timings;
    private final List<PromptTemplate.Layout> sequences;
    private java.util.Map<String, Tensor> pruneInputs = java.util.Map.of();
    private dev.vtprune.model.VitPruning.Trace vitTrace;

    Result(List<Tiling> tilings, TileLayout layout, Selection selection, Prefill prefill, long[] visualBefore,
           long[] visualAfter, long[] sequenceLengths, Timings timings, List<PromptTemplate.Layout> sequences) {
        this.tilings = List.copyOf(tilings);
        this.layout = layout;
        this.selection = selection;
        this.prefill = prefill;
        this.visualBefore = visualBefore;
        this.visualAfter = visualAfter;
        this.sequenceLengths = sequenceLengths;
        this.timings = timings;
        this.sequences = List.copyOf(sequences);
    }

    void capture(java.util.Map<String, Tensor> inputs) {
        closing.check();
        this.pruneInputs = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(inputs));
    }

    /**
     * The pruner's inputs (one-image runs with Options.capture), named as {@code vtprune prune}
     * reads them; empty otherwise.
     */
    public java.util.Map<String, Tensor> pruneInputs() {
        closing.check();
        return pruneInputs;
    }

    /**
     * IVTP's LM stage as it ran on one image.
     *
     * @param steps        one per LM pruning point (present, scores, kept: sequence positions)
     * @param positions    per LM layer, the sequence positions its KV cache holds
     * @param instruction  the instruction text
     * @param tokenStart   char spans of the LM's instruction tokens in it; tokenEnd likewise
     * @param relevance    C_i of each instruction token (eq. 7; NaN = no CLIP token covers it)
     * @param selected     the instruction tokens averaged into the pseudo-CLS (eq. 8), ascending
     * @param tau          eq. 8's threshold
     */
    public record LmStage(List<dev.vtprune.model.LmPruning.Step> steps, long[][] positions, String instruction,
                          int[] tokenStart, int[] tokenEnd, double[] relevance, int[] selected, double tau) {
        /** Whether the pseudo-CLS fell back to the projected visual CLS (no token reached tau). */
        public boolean fromVisualCls() {
            return selected.length == 0;
        }

        /**
         * A word of the instruction (a maximal run without whitespace) with the mean C_i of the
         * LM tokens overlapping it (NaN when none has a relevance) and whether any of them went
         * into the pseudo-CLS.
         */
        public record Word(String text, int start, double relevance, boolean selected) {}

        /** The instruction's words, in order (what the paper's Fig. 5 highlights). */
        public List<Word> words() {
            java.util.Set<Integer> chosen = new java.util.HashSet<>();
            for (int i : selected) chosen.add(i);
            List<Word> out = new java.util.ArrayList<>();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\S+").matcher(instruction);
            while (m.find()) {
                double sum = 0;
                int n = 0;
                boolean any = false;
                for (int i = 0; i < relevance.length; i++) {
                    if (Math.max(tokenStart[i], m.start()) >= Math.min(tokenEnd[i], m.end())) continue;
                    any |= chosen.contains(i);
                    if (!Double.isNaN(relevance[i])) {
                        sum += relevance[i];
                        n++;
                    }
                }
                out.add(new Word(m.group(), m.start(), n == 0 ? Double.NaN : sum / n, any));
            }
            return out;
        }
    }

    private LmStage lmStage;

    void lmStage(LmStage stage) {
        this.lmStage = stage;
    }

    /** IVTP's LM stage (pseudo-CLS relevance, pruning points, cache positions); null otherwise. */
    public LmStage lmStage() {
        return lmStage;
    }

    void vitTrace(dev.vtprune.model.VitPruning.Trace trace) {
        closing.check();
        this.vitTrace = trace;
    }

    /**
     * IVTP's ViT stage: every pruning point's layer, importance and kept patches, and the merged
     * tokens kept per tile (host arrays); null for other methods.
     */
    public dev.vtprune.model.VitPruning.Trace vitTrace() {
        closing.check();
        return vitTrace;
    }

    /** Keeps the tensors alive past the PointerScope they were made in (until close()). */
    void retain() {
        closing.check();
        for (Tensor t : tensors()) if (t != null) t.retainReference();
    }

    private List<Tensor> tensors() {
        java.util.ArrayList<Tensor> all = new java.util.ArrayList<>();
        all.add(prefill.lastLogits());
        for (int l = 0; l < prefill.cache().layers(); l++) {
            all.add(prefill.cache().key(l));
            all.add(prefill.cache().value(l));
        }
        if (selection != null) {
            all.add(selection.kept());
            all.add(selection.keptPerTile());
            all.add(selection.budgets());
            all.add(selection.regionScores());
            all.add(selection.regionWeights());
            all.add(selection.tokenScores());
        }
        all.addAll(pruneInputs.values());
        return all;
    }

    public List<Tiling> tilings() {
        closing.check();
        return tilings;
    }

    public TileLayout layout() {
        closing.check();
        return layout;
    }

    /** The pruner's selection, or null for an unpruned run. */
    public Selection selection() {
        closing.check();
        return selection;
    }

    /** float32 [B, vocab] logits at each sequence's last position. */
    public Tensor logits() {
        closing.check();
        return prefill.lastLogits();
    }

    /**
     * The prefill's KV cache (owned by this result), with the position the next token takes:
     * what {@link dev.vtprune.LoadedModel#generate(Result, dev.vtprune.GenerationConfig, dev.vtprune.TokenListener)}
     * decodes from.
     */
    public dev.vtprune.model.KvCache cache() {
        closing.check();
        return prefill.cache();
    }

    /** KV-cache length (real positions) of each sequence. */
    public long[] kvLengths() {
        closing.check();
        return prefill.cache().lengths();
    }

    public long[] visualBefore() {
        closing.check();
        return visualBefore.clone();
    }

    public long[] visualAfter() {
        closing.check();
        return visualAfter.clone();
    }

    /** LM sequence length of each image after pruning (before: sequences().get(b).length()). */
    public long[] sequenceLengths() {
        closing.check();
        return sequenceLengths.clone();
    }

    /** The unpruned sequence layout of each image (positions of visual and instruction tokens). */
    public List<PromptTemplate.Layout> sequences() {
        closing.check();
        return sequences;
    }

    public Timings timings() {
        closing.check();
        return timings;
    }

    @Override
    public void close() {
        if (!closing.close()) return;
        for (Tensor t : tensors()) if (t != null && !t.isNull()) t.releaseReference();
        layout.close();
    }
}
