package dev.vtprune.bench;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.model.LmPruning;
import dev.vtprune.model.VitPruning;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.Timings;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.PseudoCls;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.TokenPruner;
import java.awt.Image;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * End-to-end: the `demo` preset (24 LM layers; in full mode also `demo-8b`, an LM-heavier model
 * with InternVL2-8B's proportions) through the whole pipeline, unpruned and pruned: PTP at ratios
 * 0.25 / 0.5 / 0.75 (the paper's form, and with the probe's layers reused) and at ratio 0.5 over
 * images of 1 to 7 tiles (256 to 1,792 visual tokens); IVTP (both stages: GTP in every ViT
 * layer group and in the first W LM layers, W = the paper's 12 of 32 scaled to the depth, random
 * CLIP text tower) keeping the same fractions. Each point is the median of several runs after a
 * warm-up; the unpruned and pruned runs alternate so that drift in the machine's speed hits both.
 * For IVTP "select" is the GTP decisions (rollout, top-k, gather at every pruning point, ViT and
 * LM) and "probe" the pseudo-CLS (CLIP text tower); the ViT's and LM's shorter runs are in the
 * TTFT. Writes e2e.json (rows of summary.json's end_to_end) and e2e.png (PTP).
 *
 * <p>Usage: {@code EndToEnd quick|full OUT_DIR}.
 */
public final class EndToEnd {
    private EndToEnd() {}

    record Row(String preset, String method, double ratio, boolean reuse, long visual, double fullPrefill, double probe, double select,
               double prunedPrefill, double fullTtft, double prunedTtft) {
        double overheadPct() {
            return 100 * select / fullPrefill;
        }

        double speedup() {
            return fullTtft / prunedTtft;
        }

        String json() {
            return String.format(Locale.ROOT, "  {\"preset\": \"%s\", \"method\": \"%s\", \"ratio\": %.2f, \"reuse_probe\": %s, \"visual_tokens\": %d, "
                    + "\"prefill_full_ms\": %.2f, \"probe_ms\": %.2f, \"select_ms\": %.3f, \"prefill_pruned_ms\": %.2f, "
                    + "\"overhead_pct\": %.3f, \"ttft_full_ms\": %.1f, \"ttft_pruned_ms\": %.1f, \"ttft_speedup\": %.3f}",
                    preset, method, ratio, reuse, visual, fullPrefill, probe, select, prunedPrefill, overheadPct(), fullTtft,
                    prunedTtft, speedup());
        }
    }

    static double median(List<Timings> runs, ToDoubleFunction<Timings> f) {
        return median(runs.stream().mapToDouble(f).toArray());
    }

    static double median(double[] values) {
        double[] v = values.clone();
        java.util.Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static BufferedImage scaled(BufferedImage src, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.createGraphics().drawImage(src.getScaledInstance(w, h, Image.SCALE_SMOOTH), 0, 0, null);
        return out;
    }

    /** PTP dropping `ratio` of the visual tokens (reusing the probe's layers or not), or IVTP keeping 1 - ratio. */
    static TokenPruner pruner(ModelConfig c, String method, double ratio) {
        if (method.equals("ptp")) return new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withRatio(ratio));
        int w = IvtpPruner.Config.scaledLmLayers(c.language().layers());
        return new IvtpPruner(IvtpPruner.Config.PAPER.withLmLayers(w).withFinalRatio(1 - ratio));
    }

    /** The GTP decisions of an IVTP run: its ViT and LM pruning points' rollout, top-k and gather. */
    static double gtpMillis(Result r) {
        return r.vitTrace().steps().stream().mapToDouble(VitPruning.Step::ms).sum()
                + (r.lmStage() == null ? 0 : r.lmStage().steps().stream().mapToDouble(LmPruning.Step::ms).sum());
    }

    static Row measure(LvlmPipeline p, String preset, BufferedImage image, String method, double ratio, boolean reuse, int reps) {
        List<BufferedImage> images = List.of(image);
        List<String> prompt = List.of("Where is the red ball, and what is written on the sign?");
        LvlmPipeline.Options pruned = LvlmPipeline.Options.of(pruner(p.model().config(), method, ratio)).withReuseProbe(reuse);
        boolean ivtp = method.equals("ivtp");
        List<Timings> full = new ArrayList<>(), cut = new ArrayList<>();
        List<Double> gtp = new ArrayList<>();
        long visual = 0;
        for (int i = 0; i <= reps; i++) {  // run 0 warms up
            try (Result a = p.run(images, prompt, LvlmPipeline.Options.unpruned()); Result b = p.run(images, prompt, pruned)) {
                visual = a.visualBefore()[0];
                if (i > 0) {
                    full.add(a.timings());
                    cut.add(b.timings());
                    if (ivtp) gtp.add(gtpMillis(b));
                }
            }
        }
        double select = ivtp ? median(gtp.stream().mapToDouble(Double::doubleValue).toArray())
                : median(cut, t -> t.ms("select") + t.ms("gather"));
        Row r = new Row(preset, method, ratio, reuse, visual, median(full, t -> t.ms("prefill")),
                median(cut, t -> t.ms(ivtp ? "pseudo-cls" : "probe")), select, median(cut, t -> t.ms("prefill")),
                median(full, Timings::ttft), median(cut, Timings::ttft));
        System.err.printf(Locale.ROOT, "%-5s %-4s r=%.2f reuse=%-5s visual=%4d prefill %7.1f -> %7.1f ms, %s %6.1f ms, "
                + "%s %6.2f ms (%.2f%%), TTFT %7.1f -> %7.1f ms (%.2fx)%n", preset, method, ratio, reuse, visual,
                r.fullPrefill, r.prunedPrefill, ivtp ? "pseudo-CLS" : "probe", r.probe, ivtp ? "GTP decisions" : "select+gather",
                r.select, r.overheadPct(), r.fullTtft, r.prunedTtft, r.speedup());
        return r;
    }

    public static void main(String[] args) throws Exception {
        boolean full = args[0].equals("full");
        Path out = Path.of(args[1]);
        int reps = full ? 5 : 2;
        List<Row> rows = new ArrayList<>();
        for (String preset : full ? List.of("demo", "demo-8b") : List.of("demo")) {
            run(preset, full, reps, rows);
        }
        List<String> json = new ArrayList<>();
        for (Row r : rows) json.add(r.json());
        Files.writeString(out.resolve("e2e.json"), "[\n" + String.join(",\n", json) + "\n]\n");
        List<Row> sweep = new ArrayList<>();
        for (Row r : rows) if (r.preset.equals("demo") && r.method.equals("ptp") && r.ratio == 0.5 && r.reuse) sweep.add(r);
        sweep.sort((a, b) -> Long.compare(a.visual, b.visual));
        Plot.write(out.resolve("e2e.png"), sweep.stream().mapToDouble(r -> r.visual).toArray(),
                sweep.stream().mapToDouble(Row::speedup).toArray(), sweep.stream().mapToDouble(Row::overheadPct).toArray(),
                "PTP r = 0.5, probe reused, `demo` preset (24 LM layers); median of " + reps + " runs per point");
    }

    /** The ratio runs on the sample image (PTP, then IVTP) and, for `demo`, PTP's sweep over visual-token counts. */
    private static void run(String preset, boolean full, int reps, List<Row> rows) throws Exception {
        ModelConfig config = ModelConfig.preset(preset);
        try (Lvlm model = RandomWeights.create(config, 1, ScalarType.Float);
             IvtpText clip = IvtpText.random(config, 8, PseudoCls.PAPER_TAU)) {
            PromptTemplate template = PromptTemplate.INTERNVL;
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), template.specials()),
                    template, clip);
            BufferedImage sample = SampleImage.load();  // 1344 x 896: 3 x 2 tiles + thumbnail
            double[] ratios = full ? new double[] {0.25, 0.5, 0.75} : new double[] {0.5};
            for (double ratio : ratios) {
                for (boolean reuse : new boolean[] {false, true}) rows.add(measure(p, preset, sample, "ptp", ratio, reuse, reps));
            }
            for (double ratio : ratios) rows.add(measure(p, preset, sample, "ivtp", ratio, false, reps));
            if (!preset.equals("demo")) return;
            // The sweep over visual-token counts (ratio 0.5, probe reused): 1, 2 + 1, 4 + 1 tiles.
            int[][] sizes = full ? new int[][] {{448, 448}, {896, 448}, {896, 896}} : new int[][] {{448, 448}, {896, 896}};
            for (int[] s : sizes) rows.add(measure(p, preset, scaled(sample, s[0], s[1]), "ptp", 0.5, true, reps));
        }
    }
}
