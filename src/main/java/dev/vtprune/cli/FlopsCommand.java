package dev.vtprune.cli;

import dev.vtprune.model.Flops;
import dev.vtprune.model.ModelConfig;
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

    @Override
    public Integer call() {
        main.setUp();
        ModelConfig c = preset(model, "--model");
        if (text < 0 || text > MAX_TOKENS) {
            throw new IllegalArgumentException("argument '--text-tokens' must be in [0, " + MAX_TOKENS + "], got " + text);
        }
        long v = visual == null ? Flops.defaultVisualTokens(c) : visual;
        if (v < 0 || v > MAX_TOKENS) throw new IllegalArgumentException("argument '--visual-tokens' must be in [0, " + MAX_TOKENS + "], got " + v);
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

    /** TFLOPs to 4 decimals: beyond that the convention, not the arithmetic, decides. */
    private static double round(double flops) {
        return Math.round(flops / 1e8) / 1e4;
    }
}
