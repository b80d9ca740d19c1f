package dev.vtprune.cli;

import dev.vtprune.model.Flops;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.prune.IvtpFlops;
import dev.vtprune.prune.IvtpPruner;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune flops}: prefill FLOPs of a model preset (design §5), unpruned or with the LM
 * seeing only --keep of the visual tokens (after --probe-layers layers at full length).
 */
@Command(name = "flops", mixinStandardHelpOptions = true,
        description = "Prefill TFLOPs of a model, unpruned or pruned (JSON out).")
final class FlopsCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--model", required = true,
            description = "llava-1.5-7b, llava-1.5-13b, internvl2-1b, internvl2-2b, demo, tiny.")
    String model;

    /** Token counts are bounded so that every count and product stays exact: far beyond any model's context. */
    static final long MAX_TOKENS = 1_000_000_000L;

    @Option(names = "--text-tokens", required = true, paramLabel = "T", description = "Text tokens of the prompt (at most 10^9).")
    long text;

    @Option(names = "--visual-tokens", paramLabel = "V",
            description = "Visual tokens, at most 10^9 (default: the preset's largest tiling: 576 for LLaVA-1.5, 13 x 256 for InternVL2).")
    Long visual;

    @Option(names = "--keep", paramLabel = "K", description = "Visual tokens the LM sees after pruning (default: all).")
    Long keep;

    @Option(names = "--probe-layers", defaultValue = "0", paramLabel = "P",
            description = "Decoder layers a probe runs on the full sequence before pruning (PTP: LM layer + 1). Default: ${DEFAULT-VALUE}.")
    int probeLayers;

    @Option(names = "--method", defaultValue = "before-lm", paramLabel = "M",
            description = "before-lm (the LM sees --keep tokens in every layer) or ivtp (group-wise pruning in the ViT and the "
                    + "first --lm-layers LM layers, --keep per tile at the end, plus the CLIP text encoder). Default: ${DEFAULT-VALUE}.")
    String method;

    @Option(names = "--group-size", defaultValue = "3", paramLabel = "G", description = "ivtp: layers per group. Default: ${DEFAULT-VALUE}.")
    int groupSize;

    @Option(names = "--lm-layers", defaultValue = "12", paramLabel = "W", description = "ivtp: LM layers that prune. Default: ${DEFAULT-VALUE}.")
    int lmLayers;

    @Override
    public Integer call() {
        main.setUp();
        ModelConfig c = preset(model, "--model");
        if (text < 0 || text > MAX_TOKENS) {
            throw new IllegalArgumentException("argument '--text-tokens' must be in [0, " + MAX_TOKENS + "], got " + text);
        }
        long v = visual == null ? Flops.defaultVisualTokens(c) : visual;
        if (v < 0 || v > MAX_TOKENS) throw new IllegalArgumentException("argument '--visual-tokens' must be in [0, " + MAX_TOKENS + "], got " + v);
        if (method.equals("ivtp")) return ivtp(c, v);
        if (!method.equals("before-lm")) {
            throw new IllegalArgumentException("argument '--method' must be before-lm or ivtp, got '" + method + "'");
        }
        if (probeLayers < 0 || probeLayers > c.language().layers()) {
            throw new IllegalArgumentException("argument '--probe-layers' must be in [0, " + c.language().layers() + "] (the decoder "
                    + "layers of " + c.name() + "), got " + probeLayers);
        }
        long k = keep == null ? v : keep;
        if (k < 0 || k > v) throw new IllegalArgumentException("argument '--keep' must be in [0, " + v + "], got " + k);
        Flops.Breakdown f = Flops.pruned(c, v, k, text, probeLayers);
        main.spec.commandLine().getOut().println(new JsonOut()
                .put("model", c.name())
                .put("visual_tokens", v)
                .put("kept_tokens", k)
                .put("text_tokens", text)
                .put("probe_layers", probeLayers)
                .put("total_tflops", round(f.total()))
                .put("vision_tflops", round(f.vision()))
                .put("projector_tflops", round(f.projector()))
                .put("llm_tflops", round(f.llm()))
                .put("decoder_tflops", round(f.decoder()))
                .put("lm_head_tflops", round(f.lmHead())));
        return 0;
    }

    /** The preset, or an error naming the flag. */
    static ModelConfig preset(String name, String option) {
        try {
            return ModelConfig.preset(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("argument '" + option + "': " + e.getMessage(), e);
        }
    }

    private int ivtp(ModelConfig c, long v) {
        long tiles = Flops.tilesFor(c, v), perTile = c.vision().tokensPerTile();
        if (v != tiles * perTile) {
            throw new IllegalArgumentException("argument '--visual-tokens' must be a multiple of " + perTile
                    + " (whole tiles) with --method ivtp, got " + v);
        }
        long k = keep == null ? Math.max(1, Math.round(perTile * 64.0 / 576)) : keep;  // the paper's 64 of 576
        if (k < 1 || k > perTile) {
            throw new IllegalArgumentException("argument '--keep' must be in [1, " + perTile + "] (tokens per tile) with --method ivtp, got " + k);
        }
        if (groupSize < 1) throw new IllegalArgumentException("argument '--group-size' must be >= 1, got " + groupSize);
        if (lmLayers < 0) throw new IllegalArgumentException("argument '--lm-layers' must be >= 0, got " + lmLayers);
        IvtpFlops r = IvtpFlops.of(c, tiles, text, IvtpPruner.Config.PAPER.withGroupSize(groupSize).withLmLayers(lmLayers).withFinalKeep(k));
        Flops.Breakdown f = r.flops();
        main.spec.commandLine().getOut().println(new JsonOut()
                .put("model", c.name())
                .put("method", "ivtp")
                .put("visual_tokens", v)
                .put("kept_tokens", tiles * k)
                .put("text_tokens", text)
                .put("schedule", r.schedule())
                .put("vit_patches_per_layer", r.vitPatches())
                .put("lm_tokens_per_layer", r.lmLengths())
                .put("total_tflops", round(f.total()))
                .put("vision_tflops", round(f.vision()))
                .put("projector_tflops", round(f.projector()))
                .put("llm_tflops", round(f.llm()))
                .put("decoder_tflops", round(f.decoder()))
                .put("lm_head_tflops", round(f.lmHead()))
                .put("extra_tflops", round(f.extra())));
        return 0;
    }

    /** TFLOPs to 4 decimals: beyond that the convention, not the arithmetic, decides. */
    private static double round(double flops) {
        return Math.round(flops / 1e8) / 1e4;
    }
}
