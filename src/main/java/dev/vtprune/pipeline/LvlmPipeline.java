package dev.vtprune.pipeline;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.Prefill;
import dev.vtprune.model.Probe;
import dev.vtprune.model.VisionOutput;
import dev.vtprune.model.VitPruning;
import dev.vtprune.internal.Args;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.image.DynamicTiler;
import dev.vtprune.pipeline.image.Preprocessor;
import dev.vtprune.pipeline.image.Tiling;
import dev.vtprune.prune.FastVPruner;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import dev.vtprune.prune.TokenPruner;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The LVLM forward with pruning hooks (design §4): dynamic tiling, preprocessing, the ViT (with a
 * probe of one layer's q_cls and K), the projector, the assembly of each image's sequence
 * ({@code before | visual | between | instruction | after}), and the LM prefill — unpruned, or
 * pruned by a {@link TokenPruner}:
 *
 * <ul>
 *   <li>PTP (the paper's form): a probe runs the first LM layers on the full sequence to get the
 *       instruction relevance from their Q/K; the selection (K1 + K5 + K4 + K2) picks tokens;
 *       their projected embeddings are gathered and the whole prefill runs on the shorter
 *       sequence, each token at its unpruned RoPE position unless
 *       {@link Options#originalPositions()} is off. With {@code reuseProbe} the probe's layers
 *       are kept instead of re-run: their hidden states and KV cache are gathered to the kept
 *       positions and the prefill continues from the next layer (beyond the paper; measured,
 *       not assumed, by the demo and benchmarks).
 *   <li>FastV prunes inside the LM after its layer K: always the reuse form.
 *   <li>The other baselines select before the LM and prefill the shorter sequence (positions
 *       as for PTP).
 * </ul>
 * Batches of several images (each with its own instruction) run as one right-padded batch.
 * Every stage is timed (on a GPU after synchronising with its stream).
 */
public final class LvlmPipeline {
    private final Lvlm model;
    private final Tokenizer tokenizer;
    private final PromptTemplate template;
    private final DynamicTiler tiler;
    private final Preprocessor preprocessor;
    private final IvtpText ivtpText;

    /**
     * @param vitLayer   ViT layer probed for the CLS attention (PTP: 11 of 24; scaled to the
     *                   model's depth by {@link #scaledVitLayer})
     * @param lmLayer    LM layer probed for the instruction attention (PTP: 1) or FastV's layer K
     * @param reuseProbe continue the prefill from the probe's layers instead of re-running them
     * @param capture    keep the pruner's inputs of a one-image run in the tensor names of
     *                   {@code vtprune prune} (see {@link Result#pruneInputs()})
     * @param originalPositions for pruning before the LM and IVTP's ViT stage: the kept tokens
     *                   keep the RoPE positions they had in the unpruned sequence (the text after
     *                   the image too, so the first decoded token takes the unpruned length), as
     *                   FastV, IVTP's LM stage and the reused probe always do; false prefills the
     *                   shorter sequence from position 0. {@link #of} sets it: renumbering moved
     *                   the trained task model's answers to near chance, keeping them did not
     *                   (bench/results/eval-2026-12-04)
     */
    public record Options(TokenPruner pruner, int vitLayer, int lmLayer, boolean reuseProbe, boolean capture,
                          boolean originalPositions) {
        public static Options unpruned() {
            return new Options(null, 11, 1, false, false, false);
        }

        public static Options of(TokenPruner pruner) {
            int lm = pruner instanceof PyramidTokenPruner p ? p.config().lmLayer()
                    : pruner instanceof FastVPruner f ? f.layer() : 1;
            int vit = pruner instanceof PyramidTokenPruner p ? p.config().vitLayer() : 11;
            return new Options(pruner, vit, lm, false, false, true);
        }

        public Options withReuseProbe(boolean reuse) {
            return new Options(pruner, vitLayer, lmLayer, reuse, capture, originalPositions);
        }

        public Options withCapture(boolean keep) {
            return new Options(pruner, vitLayer, lmLayer, reuseProbe, keep, originalPositions);
        }

        public Options withOriginalPositions(boolean keep) {
            return new Options(pruner, vitLayer, lmLayer, reuseProbe, capture, keep);
        }
    }

    public LvlmPipeline(Lvlm model, Tokenizer tokenizer, PromptTemplate template) {
        this(model, tokenizer, template, null);
    }

    /**
     * @param ivtpText CLIP's text tower and joint space for IVTP's LM stage (pseudo-CLS), or null
     *                 when no IVTP run with lmLayers > 0 will be asked for; not owned
     */
    public LvlmPipeline(Lvlm model, Tokenizer tokenizer, PromptTemplate template, IvtpText ivtpText) {
        this.ivtpText = ivtpText;
        this.model = Args.notNull(model, "model");
        this.tokenizer = Args.notNull(tokenizer, "tokenizer");
        this.template = Args.notNull(template, "template");
        this.tiler = DynamicTiler.forModel(model.config());
        this.preprocessor = Preprocessor.forModel(model.config());
    }

    /** CLIP's side of IVTP's LM stage, or null. */
    public IvtpText ivtpText() {
        return ivtpText;
    }

    public Lvlm model() {
        return model;
    }

    /**
     * The ViT layer to probe: the configured one, scaled from the paper's 24-layer ViT to this
     * model's depth (11 of 24 -> 2 of 6), and clamped to the last layer.
     */
    public int scaledVitLayer(int vitLayer) {
        return scaledVitLayer(model.config(), vitLayer);
    }

    static int scaledVitLayer(ModelConfig config, int vitLayer) {
        int layers = config.vision().layers();
        int scaled = layers == 24 ? vitLayer : (int) Math.round(vitLayer * layers / 24.0);
        return Math.max(0, Math.min(scaled, layers - 1));
    }

    /** Tiles every image (the first stage; also what the overlay needs). */
    public List<Tiling> tile(List<BufferedImage> images) {
        List<Tiling> out = new ArrayList<>();
        for (BufferedImage im : images) out.add(tiler.tile(im));
        return out;
    }

    /**
     * Runs the images with their instructions (one per image).
     *
     * @return the result, owning its tensors (close it)
     */
    public Result run(List<BufferedImage> images, List<String> instructions, Options options) {
        Args.notNull(images, "images");
        Args.notNull(instructions, "instructions");
        Args.notNull(options, "options");
        if (images.isEmpty()) throw Args.error("images", "hold at least one image", "none");
        if (instructions.size() != images.size()) {
            throw Args.error("instructions", "hold one instruction per image (" + images.size() + ")", instructions.size());
        }
        Device device = firstWeightDevice();
        Timer timer = new Timer(device.is_cuda()
                ? () -> org.bytedeco.pytorch.global.torch_cuda.getCurrentCUDAStream(device.index()).synchronize()
                : () -> {});
        List<Tiling> tilings = tile(images);
        checkSequences(tilings, instructions);
        timer.lap("tiling");
        try (PointerScope scope = new PointerScope()) {
            Result r = forward(tilings, instructions, options, timer);
            r.retain();
            return r;
        }
    }

    /**
     * Refuses, before any model work, an empty instruction (nothing for the instruction relevance
     * or the LM to read) and a sequence longer than the model's context.
     */
    private void checkSequences(List<Tiling> tilings, List<String> instructions) {
        ModelConfig c = model.config();
        for (int b = 0; b < tilings.size(); b++) {
            String name = "instructions[" + b + "]";
            Args.notNull(instructions.get(b), name);
            int visual = tilings.get(b).size() * c.vision().tokensPerTile();
            PromptTemplate.Layout s = template.layout(tokenizer, visual, instructions.get(b));
            if (s.instructionCount() == 0) throw Args.error(name, "hold at least one token", "an empty instruction");
            if (s.length() > c.language().maxPositions()) {
                throw Args.error(name, "fit the model's context of " + c.language().maxPositions() + " positions with the image's "
                        + visual + " visual tokens", "a sequence of " + s.length() + " tokens (" + s.instructionCount()
                        + " of them the instruction)");
            }
        }
    }

    private Result forward(List<Tiling> tilings, List<String> instructions, Options o, Timer timer) {
        ModelConfig c = model.config();
        int images = tilings.size();
        TensorVector pixelParts = new TensorVector();
        long[] tilesPerImage = new long[images];
        for (int b = 0; b < images; b++) {
            pixelParts.push_back(preprocessor.tensor(tilings.get(b)));
            tilesPerImage[b] = tilings.get(b).size();
        }
        Tensor pixels = images == 1 ? pixelParts.get(0) : torch.cat(pixelParts);
        Device device = firstWeightDevice();
        if (device.is_cuda()) pixels = pixels.to(device, model.dtype());
        else if (model.dtype() != ScalarType.Float) pixels = pixels.to(model.dtype());
        timer.lap("preprocess");

        TokenPruner pruner = o.pruner();
        if (pruner instanceof IvtpPruner ivtp) return forwardIvtp(ivtp, tilings, tilesPerImage, pixels, instructions, o.originalPositions(), timer);
        boolean ptp = pruner instanceof PyramidTokenPruner;
        boolean fastV = pruner instanceof FastVPruner;
        boolean needsVitProbe = ptp || (pruner != null && pruner.name().equals("cls-topk"));
        int vitLayer = needsVitProbe ? scaledVitLayer(o.vitLayer()) : -1;
        VisionOutput vision = model.vision().forward(pixels, vitLayer);
        timer.lap("vision");
        Tensor visual = model.projector().forward(vision.patches());  // [T, tokensPerTile, d]
        int perTile = c.vision().tokensPerTile();
        Tensor visualFlat = visual.reshape(visual.size(0) * perTile, visual.size(2));
        timer.lap("projector");

        long[] tokensPerTile = new long[(int) visual.size(0)];
        Arrays.fill(tokensPerTile, perTile);
        TileLayout layout = TileLayout.of(tilesPerImage, tokensPerTile);
        List<PromptTemplate.Layout> seqs = new ArrayList<>();
        List<Tensor> perImageVisual = new ArrayList<>();
        for (int b = 0; b < images; b++) {
            long first = layout.tokenOffset(layout.firstTile(b));
            long n = layout.tokenOffset(layout.thumbnail(b)) + layout.tokens(layout.thumbnail(b)) - first;
            seqs.add(checkedLayout((int) n, instructions.get(b)));
            perImageVisual.add(visualFlat.narrow(0, first, n));
        }
        Batch full = Batch.assemble(model, seqs, perImageVisual);
        timer.lap("embed");

        long[] visualBefore = new long[images];
        for (int b = 0; b < images; b++) visualBefore[b] = seqs.get(b).visualCount();
        if (pruner == null) {
            Prefill prefill = model.language().prefill(full.embeds, full.lengths);
            timer.lap("prefill");
            return new Result(tilings, layout, null, prefill, visualBefore, visualBefore.clone(), full.lengths, timer.done(),
                    seqs);
        }

        boolean needsLmProbe = fastV || (ptp && ((PyramidTokenPruner) pruner).config().alpha() > 0);
        Probe probe = null;
        TextLayout text = null;
        PruneInputs.Builder in = PruneInputs.builder(layout).tileCls(vision.cls()).patchMerge(c.vision().merge());
        if (needsVitProbe) in.vitQk(vision.probeQCls(), vision.probeK(), Double.NaN);
        if (needsLmProbe) {
            probe = model.language().probe(full.embeds, full.lengths, o.lmLayer());
            timer.lap("probe");
            text = textLayout(seqs);
            in.lmQk(stackQueries(probe.q(), seqs), stackKeys(probe.k(), seqs), text, Double.NaN);
        }
        Selection selection;
        Map<String, Tensor> captured = null;
        try {
            PruneInputs inputs = in.build();
            selection = pruner.select(inputs);
            if (o.capture() && images == 1) captured = capture(layout, vision, vitLayer >= 0, needsLmProbe ? inputs : null, text);
        } finally {
            if (text != null) text.close();
        }
        long[] keptPerImage = selection.keptPerImage();
        timer.lap("select");

        boolean reuse = probe != null && (fastV || o.reuseProbe());
        Prefill prefill;
        long[] lengths;
        if (reuse) {
            Tensor index = keptPositions(selection, layout, seqs, keptPerImage);
            lengths = new long[images];
            for (int b = 0; b < images; b++) lengths[b] = full.lengths[b] - visualBefore[b] + keptPerImage[b];
            Tensor hidden = probe.hidden().gather(1, index.unsqueeze(2).expand(index.size(0), index.size(1),
                    probe.hidden().size(2)));
            var cache = probe.cache().gather(index, lengths);
            timer.lap("gather");
            prefill = model.language().prefillFrom(o.lmLayer() + 1, hidden, lengths, index, cache);
        } else {
            Tensor kept = selection.gather(visualFlat);
            List<Tensor> keptParts = new ArrayList<>();
            List<PromptTemplate.Layout> pruned = new ArrayList<>();
            long at = 0;
            for (int b = 0; b < images; b++) {
                keptParts.add(kept.narrow(0, at, keptPerImage[b]));
                at += keptPerImage[b];
                pruned.add(checkedLayout((int) keptPerImage[b], instructions.get(b)));
            }
            Batch shorter = Batch.assemble(model, pruned, keptParts);
            lengths = shorter.lengths;
            timer.lap("gather");
            Tensor positions = o.originalPositions() ? keptPositions(selection, layout, seqs, keptPerImage) : null;
            prefill = model.language().prefillFrom(0, shorter.embeds, shorter.lengths, positions, null);
        }
        timer.lap("prefill");
        if (probe != null) probe.close();
        Result result = new Result(tilings, layout, selection, prefill, visualBefore, keptPerImage, lengths, timer.done(), seqs);
        if (captured != null) result.capture(captured);
        return result;
    }

    /** The template's layout, its ids checked against the LM's vocabulary (a tokenizer of another model is caught here). */
    private PromptTemplate.Layout checkedLayout(int visual, String instruction) {
        PromptTemplate.Layout l = template.layout(tokenizer, visual, instruction);
        int vocab = model.config().language().vocab();
        for (long id : l.ids()) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("the tokenizer (" + tokenizer.describe() + ") gives token id " + id
                        + ", outside the LM's vocabulary of " + vocab + ": it is not this model's tokenizer");
            }
        }
        return l;
    }

    /**
     * IVTP's ViT stage: the encoder prunes group by group inside its forward, the projector
     * makes the visual tokens of the kept patches only (for InternVL: the kept 2 x 2 blocks,
     * pixel-shuffled, see {@link dev.vtprune.model.VitPruning}), and the LM prefill runs on
     * them. The LM stage (pseudo-CLS, pruning inside the first W LM layers) is not implemented
     * yet, so a config with lmLayers > 0 is refused rather than run partly.
     */
    private Result forwardIvtp(IvtpPruner ivtp, List<Tiling> tilings, long[] tilesPerImage, Tensor pixels,
                               List<String> instructions, boolean originalPositions, Timer timer) {
        ModelConfig c = model.config();
        if (ivtp.config().lmLayers() > 0) {
            if (ivtpText == null) {
                throw new IllegalArgumentException("IVTP's LM stage (lmLayers = " + ivtp.config().lmLayers() + ") needs "
                        + "CLIP's text tower for the pseudo-CLS: build the pipeline with an IvtpText, or use lmLayers = 0");
            }
            if (tilings.size() != 1) {
                throw Args.error("images", "be one image per run with IVTP's LM stage (lmLayers > 0; batches are not "
                        + "supported there yet)", tilings.size());
            }
            if (ivtp.config().lmLayers() > c.language().layers()) {
                throw Args.error("lmLayers", "be <= the LM's " + c.language().layers() + " layers", ivtp.config().lmLayers());
            }
        }
        int images = tilings.size(), perTile = c.vision().tokensPerTile();
        IvtpPruner.Config ic = ivtp.config();
        VitPruning plan = new VitPruning(ic.groupSize(), ivtp.vitKeepCounts(c.vision().layers(), perTile), c.vision().merge(),
                ic.valueWeighting(), ic.mode(), ic.backend());
        VisionOutput vision = model.vision().forward(pixels, plan);
        timer.lap("vision");
        long[][] tokens = vision.trace().tokens();
        Tensor visual = model.projector().forwardKept(vision.patches(), vision.keptPatches(), tokens);  // [T, k, d]
        int tiles = (int) visual.size(0), k = (int) visual.size(1);
        Tensor visualFlat = visual.reshape((long) tiles * k, visual.size(2));
        timer.lap("projector");

        long[] full = new long[tiles], keptPerTile = new long[tiles], kept = new long[tiles * k];
        Arrays.fill(full, perTile);
        Arrays.fill(keptPerTile, k);
        for (int t = 0; t < tiles; t++) for (int j = 0; j < k; j++) kept[t * k + j] = (long) t * perTile + tokens[t][j];
        TileLayout layout = TileLayout.of(tilesPerImage, full);
        Device device = Tensors.deviceOf(visual);
        Selection selection = new Selection(layout, Tensors.longs(device, kept), Tensors.longs(device, keptPerTile), null,
                null, null, null);
        List<PromptTemplate.Layout> seqs = new ArrayList<>(), pruned = new ArrayList<>();
        List<Tensor> parts = new ArrayList<>();
        long[] before = new long[images], after = new long[images];
        for (int b = 0, first = 0; b < images; b++) {
            int n = (int) tilesPerImage[b];
            before[b] = (long) n * perTile;
            after[b] = (long) n * k;
            seqs.add(template.layout(tokenizer, (int) before[b], instructions.get(b)));
            pruned.add(template.layout(tokenizer, (int) after[b], instructions.get(b)));
            parts.add(visualFlat.narrow(0, (long) first * k, after[b]));
            first += n;
        }
        Batch shorter = Batch.assemble(model, pruned, parts);
        timer.lap("embed");
        if (ic.lmLayers() > 0) {  // one image
            return lmStage(ivtp, tilings, layout, vision, shorter, pruned.get(0), kept, perTile, before, seqs,
                    instructions.get(0), originalPositions ? keptPositionRows(selection, layout, seqs, after)[0] : null, timer);
        }
        Tensor positions = originalPositions ? keptPositions(selection, layout, seqs, after) : null;
        Prefill prefill = model.language().prefillFrom(0, shorter.embeds, shorter.lengths, positions, null);
        timer.lap("prefill");
        Result result = new Result(tilings, layout, selection, prefill, before, after, shorter.lengths, timer.done(), seqs);
        result.vitTrace(vision.trace());
        return result;
    }

    /**
     * IVTP's LM stage on one image after the ViT stage: the pseudo-CLS from the instruction
     * ({@link IvtpText}), then {@link dev.vtprune.model.LanguageModel#prefillPruned} with the
     * LM's share of the schedule. Counts are per image: the schedule's per-tile count times the
     * image's tiles (the ViT prunes per tile, the LM per image).
     *
     * @param kept global token ids (tile * perTile + token) of the ViT stage's survivors, in sequence order
     * @param positions the RoPE position of each token of `seq` (their unpruned positions), or null for 0..L-1
     */
    private Result lmStage(IvtpPruner ivtp, List<Tiling> tilings, TileLayout layout, VisionOutput vision, Batch seq,
                           PromptTemplate.Layout s, long[] kept, int perTile, long[] before,
                           List<PromptTemplate.Layout> seqs, String instruction, long[] positions, Timer timer) {
        ModelConfig c = model.config();
        IvtpPruner.Config ic = ivtp.config();
        int tiles = tilings.get(0).size(), vitPoints = IvtpPruner.points(c.vision().layers(), ic.groupSize());
        long[] all = ivtp.schedule(c.vision().layers(), perTile);
        long[] lmKeep = new long[all.length - vitPoints];
        for (int i = 0; i < lmKeep.length; i++) lmKeep[i] = all[vitPoints + i] * tiles;

        int[][] spans = instructionSpans(s, instruction);
        Tensor embeds = seq.embeds;
        Tensor textEmb = embeds.select(0, 0).narrow(0, s.instructionStart(), s.instructionCount());
        Tensor cls = vision.cls().select(0, layout.thumbnail(0));
        int m = c.vision().merge(), g = c.vision().grid();
        long[] block = new long[m * m];
        for (int r = 0; r < m; r++) for (int q = 0; q < m; q++) block[r * m + q] = (long) r * g + q;
        Tensor clsBlock = cls.unsqueeze(0).unsqueeze(0).expand(1, (long) m * m, cls.size(0)).contiguous();
        Tensor clsLm = model.projector().forwardKept(clsBlock, Tensor.create(block, 1, block.length), new long[][] {{0}})
                .view(-1);
        dev.vtprune.model.LmPruning.Result r;
        Result.LmStage stage;
        try (dev.vtprune.prune.PseudoCls.Result pc = ivtpText.pseudoCls(instruction, spans[0], spans[1], textEmb, cls, clsLm)) {
            timer.lap("pseudo-cls");
            dev.vtprune.model.LmPruning plan = new dev.vtprune.model.LmPruning(ic.groupSize(), ic.lmLayers(), lmKeep,
                    ic.valueWeighting(), ic.mode());
            r = model.language().prefillPruned(embeds, new dev.vtprune.model.LmPruning.Spans(
                    new long[] {s.visualStart()}, new long[] {s.visualCount()}), pc.embedding(), plan, null, positions);
            stage = new Result.LmStage(r.steps(), r.positions(), instruction, spans[0], spans[1], pc.relevance(),
                    pc.selected(), ivtpText.tau());
        }
        timer.lap("prefill");
        long[] last = r.steps().get(r.steps().size() - 1).kept()[0];
        long[] finalKept = new long[last.length], perTileKept = new long[tiles];
        for (int j = 0; j < last.length; j++) {
            finalKept[j] = kept[(int) (last[j] - s.visualStart())];
            perTileKept[(int) (finalKept[j] / perTile)]++;
        }
        Device device = Tensors.deviceOf(embeds);
        Selection selection = new Selection(layout, Tensors.longs(device, finalKept), Tensors.longs(device, perTileKept),
                null, null, null, null);
        long[] lengths = {r.positions()[r.positions().length - 1].length};
        Result result = new Result(tilings, layout, selection, r.prefill(), before, new long[] {last.length}, lengths,
                timer.done(), seqs);
        result.vitTrace(vision.trace());
        result.lmStage(stage);
        return result;
    }

    /** Char spans [start[], end[]] of the layout's instruction tokens within the instruction string. */
    private int[][] instructionSpans(PromptTemplate.Layout s, String instruction) {
        Encoding e = tokenizer.encode(template.text(instruction), true);
        int q0 = template.before().length() + template.imageToken().length() + template.between().length();
        int first = s.instructionStart() - s.visualCount() + 1;  // the image token was one slot in e
        int[] start = new int[s.instructionCount()], end = new int[s.instructionCount()];
        for (int i = 0; i < start.length; i++) {
            start[i] = Math.max(0, Math.min(instruction.length(), e.start()[first + i] - q0));
            end[i] = Math.max(start[i], Math.min(instruction.length(), e.end()[first + i] - q0));
        }
        return new int[][] {start, end};
    }

    /**
     * The inputs of a one-image selection under the names of {@code vtprune prune}: tile_cls,
     * global_cls, vit_attn (the CLS rows of the probed layer, patches only, made from its q_cls
     * and K) and llm_q, llm_k, query_pos, visual_pos.
     */
    private static Map<String, Tensor> capture(TileLayout layout, VisionOutput vision, boolean vit, PruneInputs lm,
                                               TextLayout text) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        Tensor cls = vision.cls().to(ScalarType.Float);
        long local = layout.localTiles(0);
        m.put("tile_cls", cls.narrow(0, 0, local).contiguous());
        m.put("global_cls", cls.select(0, local).contiguous());
        if (vit) {
            Tensor q = vision.probeQCls().to(ScalarType.Float), k = vision.probeK().to(ScalarType.Float);
            Tensor rows = q.unsqueeze(2).matmul(k.transpose(2, 3)).squeeze(2)
                    .div(new org.bytedeco.pytorch.Scalar(Math.sqrt(q.size(2)))).softmax(2);
            m.put("vit_attn", rows.narrow(2, 1, rows.size(2) - 1).contiguous());
        }
        if (lm != null) {
            m.put("llm_q", lm.lmQ().to(ScalarType.Float).contiguous());
            m.put("llm_k", lm.lmK().to(ScalarType.Float).contiguous());
            m.put("query_pos", Tensor.create(text.queryPos(0)));
            m.put("visual_pos", Tensor.create(text.visualPos(0)));
        }
        return m;
    }

    private Device firstWeightDevice() {
        for (Tensor w : model.weights().values()) return Tensors.deviceOf(w);
        return Tensors.cpu();
    }

    /** Query rows [Hq, sum Q_b, d]: the instruction positions of each image's probe q. */
    private static Tensor stackQueries(Tensor q, List<PromptTemplate.Layout> seqs) {
        TensorVector parts = new TensorVector();
        for (int b = 0; b < seqs.size(); b++) {
            PromptTemplate.Layout s = seqs.get(b);
            parts.push_back(q.select(0, b).narrow(1, s.instructionStart(), s.instructionCount()));
        }
        return torch.cat(parts, 1);
    }

    /** Key rows [Hkv, sum L_b, d]: each image's real keys, padding dropped. */
    private static Tensor stackKeys(Tensor k, List<PromptTemplate.Layout> seqs) {
        TensorVector parts = new TensorVector();
        for (int b = 0; b < seqs.size(); b++) parts.push_back(k.select(0, b).narrow(1, 0, seqs.get(b).length()));
        return torch.cat(parts, 1);
    }

    private static TextLayout textLayout(List<PromptTemplate.Layout> seqs) {
        TextLayout.Builder t = TextLayout.builder();
        for (PromptTemplate.Layout s : seqs) t.add(s.length(), s.instructionPositions(), s.visualPositions());
        return t.build();
    }

    /**
     * int64 [B, L'] positions each pruned sequence keeps ({@link #keptPositionRows}), right-padded
     * with the last kept position.
     */
    private static Tensor keptPositions(Selection s, TileLayout layout, List<PromptTemplate.Layout> seqs,
                                        long[] keptPerImage) {
        long[][] rows = keptPositionRows(s, layout, seqs, keptPerImage);
        int images = rows.length, max = 0;
        for (long[] row : rows) max = Math.max(max, row.length);
        long[] flat = new long[images * max];
        for (int b = 0; b < images; b++) {
            long[] row = rows[b];
            System.arraycopy(row, 0, flat, b * max, row.length);
            Arrays.fill(flat, b * max + row.length, (b + 1) * max, row.length == 0 ? 0 : row[row.length - 1]);
        }
        return Tensor.create(flat, images, max);
    }

    /**
     * Per image, the positions in its unpruned sequence `seqs[b]` of the tokens its pruned
     * sequence keeps: the text before the image, the kept visual tokens in their order, the text
     * after it.
     */
    private static long[][] keptPositionRows(Selection s, TileLayout layout, List<PromptTemplate.Layout> seqs,
                                             long[] keptPerImage) {
        long[] kept = s.keptIndices();
        long[][] rows = new long[seqs.size()][];
        int at = 0;
        for (int b = 0; b < rows.length; b++) {
            PromptTemplate.Layout q = seqs.get(b);
            long first = layout.tokenOffset(layout.firstTile(b));
            long[] row = new long[(int) (q.length() - q.visualCount() + keptPerImage[b])];
            int w = 0;
            for (int p = 0; p < q.visualStart(); p++) row[w++] = p;
            for (long i = 0; i < keptPerImage[b]; i++) row[w++] = q.visualStart() + (kept[at++] - first);
            for (long p = q.visualStart() + q.visualCount(); p < q.length(); p++) row[w++] = p;
            rows[b] = row;
        }
        return rows;
    }

    /** A right-padded batch of sequence embeddings. */
    private record Batch(Tensor embeds, long[] lengths) {
        static Batch assemble(Lvlm model, List<PromptTemplate.Layout> seqs, List<Tensor> visual) {
            int images = seqs.size();
            long[] lengths = new long[images];
            int max = 0;
            for (int b = 0; b < images; b++) {
                lengths[b] = seqs.get(b).length();
                max = (int) Math.max(max, lengths[b]);
            }
            long[] ids = new long[images * max];
            for (int b = 0; b < images; b++) System.arraycopy(seqs.get(b).ids(), 0, ids, b * max, seqs.get(b).length());
            Tensor idTensor = Tensor.create(ids, images, max);
            Tensor embeds = model.language().embed(idTensor);  // [B, L, d]; visual slots hold the image token
            for (int b = 0; b < images; b++) {
                PromptTemplate.Layout s = seqs.get(b);
                if (s.visualCount() > 0) {
                    embeds.select(0, b).narrow(0, s.visualStart(), s.visualCount())
                            .copy_(visual.get(b).to(Tensors.scalarType(embeds)));
                }
            }
            return new Batch(embeds, lengths);
        }
    }
}
