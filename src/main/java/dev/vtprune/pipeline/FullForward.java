package dev.vtprune.pipeline;

import dev.vtprune.model.LanguageModel;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelConfig.Family;
import dev.vtprune.model.VisionOutput;
import dev.vtprune.internal.Args;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import dev.vtprune.prune.TokenPruner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The model's forward on given, already tokenised and preprocessed inputs, with every
 * intermediate a reference implementation can be compared on (what {@code vtprune forward}
 * writes). The contract, so that any implementation can be held against it:
 * <ul>
 * <li>{@code pixels} [T, 3, S, S]: the tiles, InternVL's thumbnail last; LLaVA takes one.</li>
 * <li>{@code ids} [L]: the prompt with the checkpoint's image-context id where the visual
 *     tokens go: InternVL writes {@code <IMG_CONTEXT>} once per visual token (T x tokens per
 *     tile), LLaVA writes {@code <image>} once and it is expanded to the n visual tokens, so
 *     the LM sees L - 1 + n positions.</li>
 * <li>Outputs, float32, no batch axis: {@code vision_features} [T, P, Dv] (the ViT states the
 *     projector reads, CLS dropped, before InternVL's pixel shuffle), {@code visual_embeds}
 *     [V, D] (projector output, tile by tile, row-major in a tile), {@code logits} [L', vocab]
 *     and {@code hidden_i} (Hugging Face's {@code hidden_states[i]}) of one unpadded sequence
 *     at positions 0..L'-1.</li>
 * </ul>
 * With a pruner the visual tokens are selected first (from the ViT's CLS attention and, for
 * PTP with alpha > 0, a probe of the LM whose instruction is every text token after the last
 * visual token), the dropped ones leave the sequence, the rest keep their order, and the
 * shorter sequence runs at positions 0..L'-1; {@code kept} (int64, indices into visual_embeds)
 * is added to the outputs.
 */
public final class FullForward {
    private FullForward() {}

    /**
     * @param imageToken the image-context id (see the class comment); it may lie outside the
     *                   vocabulary, it is never embedded
     * @param hidden     hidden-state indices to return, each in [0, LM layers]
     * @param pruner     null for the unpruned forward
     * @return name to tensor, in the order above; the caller owns them (an enclosing PointerScope)
     */
    public static Map<String, Tensor> run(Lvlm model, Tensor pixels, long[] ids, long imageToken, int[] hidden,
                                          TokenPruner pruner) {
        Args.notNull(model, "model");
        Args.notNull(ids, "input_ids");
        ModelConfig c = model.config();
        int size = c.vision().imageSize();
        Args.rank(pixels, "pixel_values", 4, "[tiles, 3, size, size]");
        long tiles = pixels.size(0);
        if (tiles < 1 || pixels.size(1) != 3 || pixels.size(2) != size || pixels.size(3) != size) {
            throw Args.error("pixel_values", "have shape [T >= 1, 3, " + size + ", " + size + "] (model '" + c.name()
                    + "' takes " + size + " px tiles)", Tensors.describe(pixels));
        }
        boolean llava = c.family() == Family.LLAVA;
        if (llava && tiles != 1) {
            throw Args.error("pixel_values", "hold exactly one image for LLaVA ([1, 3, " + size + ", " + size + "])",
                    Tensors.describe(pixels));
        }
        if (pruner instanceof FastVPruner) {
            throw new IllegalArgumentException("argument '--method': fastv prunes inside the LM, not before it; "
                    + "forward supports ptp, cls-topk, random and spatial");
        }
        long perTile = c.vision().tokensPerTile(), visual = tiles * perTile, vocab = c.language().vocab();
        int slots = 0;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == imageToken) slots++;
            else if (ids[i] < 0 || ids[i] >= vocab) {
                throw Args.error("input_ids[" + i + "]", "be a token id in [0, " + vocab + ") or the image-context id "
                        + imageToken, ids[i]);
            }
        }
        long expected = llava ? 1 : visual;
        if (slots != expected) {
            throw Args.error("input_ids", "hold the image-context id " + imageToken + " " + (llava
                    ? "exactly once (LLaVA's <image>, expanded to the " + visual + " visual tokens)"
                    : visual + " times (InternVL's <IMG_CONTEXT>: " + tiles + " tiles x " + perTile + " tokens)"),
                    slots + " occurrences in " + ids.length + " ids");
        }

        Map<String, Tensor> out = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            boolean ptp = pruner instanceof PyramidTokenPruner;
            boolean vitProbe = ptp || (pruner != null && pruner.name().equals("cls-topk"));
            int vitLayer = vitProbe ? LvlmPipeline.scaledVitLayer(c, ptp ? ((PyramidTokenPruner) pruner).config().vitLayer() : 11) : -1;
            VisionOutput vision = model.vision().forward(pixels, vitLayer);
            Tensor embeds = model.projector().forward(vision.patches());
            Tensor flat = embeds.reshape(visual, embeds.size(2));
            out.put("vision_features", vision.patches().to(ScalarType.Float).contiguous());
            out.put("visual_embeds", flat.to(ScalarType.Float).contiguous());

            long[] kept = null;
            if (pruner != null) {
                kept = select(model, pruner, vision, vitLayer >= 0, flat, ids, imageToken, tiles, perTile);
                out.put("kept", Tensor.create(kept));
            }
            Sequence seq = Sequence.of(ids, imageToken, llava, visual, kept);
            LanguageModel.Outputs lm = model.language().forwardAll(seq.embed(model, flat).unsqueeze(0), hidden);
            out.put("logits", lm.logits());
            for (Map.Entry<Integer, Tensor> e : lm.states().entrySet()) out.put("hidden_" + e.getKey(), e.getValue());
            for (Tensor t : out.values()) {  // outlive the scope, which frees every temporary
                t.retainReference();
                scope.detach(t);
            }
        }
        return out;
    }

    /** Kept visual-token indices (ascending) of the pruner on this one image. */
    private static long[] select(Lvlm model, TokenPruner pruner, VisionOutput vision, boolean vitProbe, Tensor flat,
                                 long[] ids, long imageToken, long tiles, long perTile) {
        ModelConfig c = model.config();
        long[] perTileTokens = new long[(int) tiles];
        Arrays.fill(perTileTokens, perTile);
        TileLayout layout = TileLayout.of(new long[] {tiles}, perTileTokens);
        PruneInputs.Builder in = PruneInputs.builder(layout).tileCls(vision.cls()).patchMerge(c.vision().merge());
        if (vitProbe) in.vitQk(vision.probeQCls(), vision.probeK(), Double.NaN);
        TextLayout text = null;
        try {
            if (pruner instanceof PyramidTokenPruner p && p.config().alpha() > 0) {
                Sequence full = Sequence.of(ids, imageToken, c.family() == Family.LLAVA, flat.size(0), null);
                long[] instruction = full.instructionPositions();
                if (instruction.length == 0) {
                    throw Args.error("input_ids", "have text after the image tokens (PTP's instruction, alpha > 0)",
                            "none");
                }
                var probe = model.language().probe(full.embed(model, flat).unsqueeze(0),
                        new long[] {full.length()}, p.config().lmLayer());
                text = TextLayout.single(full.length(), instruction, full.visualPositions());
                Tensor q = probe.q().select(0, 0);  // [Hq, L, d] -> the instruction rows
                in.lmQk(q.index_select(1, Tensors.longs(q.device(), instruction)), probe.k().select(0, 0), text,
                        Double.NaN);
            }
            try (Selection s = pruner.select(in.build())) {
                return Tensors.toLongs(s.kept());
            }
        } finally {
            if (text != null) text.close();
        }
    }

    /**
     * The LM sequence: `ids` with the image-context slots replaced by visual tokens (LLaVA's one
     * slot expanded), the pruned ones left out.
     *
     * @param ids    LM ids, 0 at visual positions (they are overwritten)
     * @param source visual-token index of each visual position, in sequence order
     */
    private record Sequence(long[] ids, long[] positions, long[] source) {
        static Sequence of(long[] input, long imageToken, boolean expand, long visual, long[] kept) {
            boolean[] keep = new boolean[(int) visual];
            if (kept == null) Arrays.fill(keep, true);
            else for (long k : kept) keep[(int) k] = true;
            List<Long> ids = new ArrayList<>(), positions = new ArrayList<>(), source = new ArrayList<>();
            long next = 0;
            for (long id : input) {
                if (id != imageToken) {
                    ids.add(id);
                    continue;
                }
                for (long n = expand ? visual : 1; n > 0; n--, next++) {
                    if (!keep[(int) next]) continue;
                    positions.add((long) ids.size());
                    source.add(next);
                    ids.add(0L);
                }
            }
            return new Sequence(unbox(ids), unbox(positions), unbox(source));
        }

        int length() {
            return ids.length;
        }

        long[] visualPositions() {
            return positions;
        }

        /** Text positions after the last visual token. */
        long[] instructionPositions() {
            long from = positions.length == 0 ? 0 : positions[positions.length - 1] + 1;
            long[] p = new long[(int) Math.max(0, ids.length - from)];
            for (int i = 0; i < p.length; i++) p[i] = from + i;
            return p;
        }

        /** [L', D] embeddings: the text ids embedded, the visual rows of `flat` at their positions. */
        Tensor embed(Lvlm model, Tensor flat) {
            Tensor e = model.language().embed(Tensor.create(ids, 1, ids.length)).select(0, 0);
            if (positions.length > 0) {
                Tensor rows = flat.index_select(0, Tensors.longs(flat.device(), source));
                e.index_copy_(0, Tensors.longs(e.device(), positions), rows.to(e.device(), Tensors.scalarType(e)));
            }
            return e;
        }

        private static long[] unbox(List<Long> v) {
            return v.stream().mapToLong(Long::longValue).toArray();
        }
    }
}
