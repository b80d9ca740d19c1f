package dev.vtprune.prune;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Closing;
import dev.vtprune.internal.Tensors;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * IVTP's textual pseudo-CLS (papers/ivtp-...txt §3.3, eq. 6-8), the query the LM stage's GTP
 * scores visual tokens against. Pure math on the features the caller computed:
 * <ol>
 * <li>eq. 6: {@code c_k = cos(f_k, v)} for every CLIP text token k, f_k its projected text feature
 *     ({@code text_projection} of the token's final hidden state) and v the image's projected
 *     visual CLS ({@code visual_projection(post_layernorm(CLS))}), both in CLIP's joint space.
 *     Norms are clamped at 1e-8 as PyTorch's cosine_similarity does (a zero vector gives 0).</li>
 * <li>eq. 7: {@code C_i} = the mean of {@code c_k} over the CLIP tokens whose character spans
 *     overlap LM token i's span (exactly {@code c_k} when one does). An LM token that no CLIP
 *     token overlaps has <b>no relevance: {@code C_i = NaN}, and it is never selected</b>, whatever
 *     tau. This is the case of tokens that stand for no text (a BOS, empty span), whitespace-only
 *     tokens (CLIP's tokenizer drops whitespace), and text past CLIP's 77-token truncation.
 *     Excluding them rather than scoring them 0 keeps the outcome independent of tau's sign and
 *     lets the demo print "no relevance" instead of a made-up number. CLIP's start and end tokens
 *     span no text, so they never enter eq. 7.</li>
 * <li>eq. 8: the pseudo-CLS is the mean of the LM input embeddings of the tokens with
 *     {@code C_i >= tau}; when there is none, the visual CLS projected into the LM's space.</li>
 * </ol>
 * Cosines and means are computed in float64; the embedding is returned in the LM embeddings'
 * dtype, on their device.
 */
public final class PseudoCls {
    private PseudoCls() {}

    /** The paper's threshold (eq. 8). */
    public static final double PAPER_TAU = 0.2;

    /**
     * The pseudo-CLS of one prompt; owns its embedding: after {@link #close()} (idempotent) the
     * accessors throw {@link IllegalStateException}.
     */
    public static final class Result implements AutoCloseable {
        private final Closing closing = new Closing("PseudoCls.Result");
        private final double[] clipRelevance, relevance;
        private final int[] selected;
        private final Tensor embedding;

        /**
         * @param clipRelevance c_k of every CLIP token (eq. 6), CLIP token order
         * @param relevance     C_i of every LM text token (eq. 7), NaN where no CLIP token covers it
         * @param selected      the LM tokens with C_i >= tau, ascending
         * @param embedding     [D] the pseudo-CLS (eq. 8); owned by this result
         */
        public Result(double[] clipRelevance, double[] relevance, int[] selected, Tensor embedding) {
            this.clipRelevance = clipRelevance;
            this.relevance = relevance;
            this.selected = selected;
            this.embedding = embedding;
        }

        public double[] clipRelevance() {
            closing.check();
            return clipRelevance;
        }

        public double[] relevance() {
            closing.check();
            return relevance;
        }

        public int[] selected() {
            closing.check();
            return selected;
        }

        public Tensor embedding() {
            closing.check();
            return embedding;
        }

        /** Whether eq. 8 fell back to the projected visual CLS (no token reached tau). */
        public boolean fromVisualCls() {
            return selected().length == 0;
        }

        @Override
        public void close() {
            if (!closing.close()) return;
            Tensors.closeAll(embedding);
        }
    }

    /**
     * @param clipFeatures  [Tc, E] projected CLIP text features of one prompt, one row per CLIP token
     * @param visualCls     [E] projected visual CLS in the same joint space
     * @param clipStart     char start of each CLIP token's span in the prompt (Tc values); clipEnd likewise,
     *                      {@code start <= end}, an empty span for tokens that stand for no text
     * @param lmStart       char spans of the LM's text tokens in the same prompt string (Tl values)
     * @param lmEmbeddings  [Tl, D] the LM input embeddings of those tokens
     * @param visualClsLm   [D] the visual CLS projected into the LM's embedding space (the fallback)
     * @param tau           selection threshold (paper: {@link #PAPER_TAU}); finite
     */
    public static Result compute(Tensor clipFeatures, Tensor visualCls, int[] clipStart, int[] clipEnd,
                                 int[] lmStart, int[] lmEnd, Tensor lmEmbeddings, Tensor visualClsLm, double tau) {
        if (!Double.isFinite(tau)) throw Args.error("tau", "be a finite number (paper: 0.2)", tau);
        Args.rank(Args.defined(clipFeatures, "clipFeatures"), "clipFeatures", 2, "[clip tokens, E]");
        Args.rank(Args.defined(visualCls, "visualCls"), "visualCls", 1, "[E]");
        Args.rank(Args.defined(lmEmbeddings, "lmEmbeddings"), "lmEmbeddings", 2, "[text tokens, D]");
        Args.rank(Args.defined(visualClsLm, "visualClsLm"), "visualClsLm", 1, "[D]");
        Args.floating(clipFeatures, "clipFeatures");
        Args.floating(visualCls, "visualCls");
        Args.floating(lmEmbeddings, "lmEmbeddings");
        Args.floating(visualClsLm, "visualClsLm");
        long tc = clipFeatures.size(0), e = clipFeatures.size(1), tl = lmEmbeddings.size(0), d = lmEmbeddings.size(1);
        Args.size(visualCls, "visualCls", 0, e, "E, clipFeatures.size(1)");
        Args.size(visualClsLm, "visualClsLm", 0, d, "D, lmEmbeddings.size(1)");
        if (tl == 0) throw Args.error("lmEmbeddings", "hold at least one text token (empty prompt text)", "0 rows");
        if (tc == 0) throw Args.error("clipFeatures", "hold at least one CLIP token", "0 rows");
        checkSpans(clipStart, clipEnd, tc, "clip");
        checkSpans(lmStart, lmEnd, tl, "lm");

        Args.finite(clipFeatures, "clipFeatures");
        Args.finite(visualCls, "visualCls");
        double[] f = Tensors.toDoubles(clipFeatures), v = Tensors.toDoubles(visualCls);
        double[] c = new double[(int) tc];
        double vn = Math.max(norm(v, 0, (int) e), 1e-8);
        for (int k = 0; k < tc; k++) {
            double dot = 0;
            for (int j = 0; j < e; j++) dot += f[k * (int) e + j] * v[j];
            c[k] = dot / (Math.max(norm(f, k * (int) e, (int) e), 1e-8) * vn);  // eq. 6
        }
        double[] rel = new double[(int) tl];
        for (int i = 0; i < tl; i++) {
            final int s = lmStart[i], t = lmEnd[i];
            int[] cover = IntStream.range(0, (int) tc).filter(k -> Math.max(clipStart[k], s) < Math.min(clipEnd[k], t))
                    .toArray();
            rel[i] = cover.length == 0 ? Double.NaN : Arrays.stream(cover).mapToDouble(k -> c[k]).average().orElseThrow();
        }
        int[] selected = IntStream.range(0, (int) tl).filter(i -> rel[i] >= tau).toArray();  // NaN never passes
        return new Result(c, rel, selected, embedding(lmEmbeddings, visualClsLm, selected));
    }

    /** Eq. 8: the float64 mean of the selected rows, or the fallback; lmEmbeddings' dtype and device. */
    private static Tensor embedding(Tensor lm, Tensor fallback, int[] selected) {
        ScalarType type = Tensors.scalarType(lm);
        if (selected.length == 0) return fallback.to(Tensors.deviceOf(lm), type).clone();
        int d = (int) lm.size(1);
        double[] rows = Tensors.toDoubles(lm), mean = new double[d];
        for (int i : selected) for (int j = 0; j < d; j++) mean[j] += rows[i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= selected.length;
        return Tensors.doubles(mean, d).to(Tensors.deviceOf(lm), type);
    }

    private static double norm(double[] x, int from, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) s += x[from + j] * x[from + j];
        return Math.sqrt(s);
    }

    private static void checkSpans(int[] start, int[] end, long n, String who) {
        Args.notNull(start, who + "Start");
        Args.notNull(end, who + "End");
        if (start.length != n || end.length != n) {
            throw Args.error(who + "Start/" + who + "End", "one span per " + who + " token (" + n + ")",
                    start.length + "/" + end.length);
        }
        for (int i = 0; i < n; i++) {
            if (start[i] < 0 || end[i] < start[i]) {
                throw Args.error(who + " span " + i, "satisfy 0 <= start <= end", start[i] + ".." + end[i]);
            }
        }
    }
}
