package dev.vtprune.model;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The shapes of an LVLM: vision encoder, projector, decoder LM, and how images are tiled.
 * Shared by the LibTorch modules, the FLOPs model and the presets of the command line.
 *
 * @param name          preset name, e.g. "internvl2-2b"
 * @param family        checkpoint family, which fixes module details and weight key names
 * @param vision        the ViT
 * @param projector     vision-to-LM projector (input width = vision hidden * merge^2)
 * @param language      the decoder LM
 * @param tiling        dynamic tiling of InternVL, or a single fixed-size view (LLaVA-1.5)
 */
public record ModelConfig(String name, Family family, Vision vision, Projector projector, Language language,
                          Tiling tiling) {
    /**
     * Checks what the modules rely on beyond each part's own checks: the projector's input is a
     * merged vision token (hidden * merge^2 wide), its output the LM's width, and the visual
     * tokens of the largest tiling fit an int.
     */
    public ModelConfig {
        if (name == null || name.isBlank()) throw invalid("ModelConfig", "name", "be a non-blank name", name);
        if (family == null || vision == null || projector == null || language == null || tiling == null) {
            throw invalid("ModelConfig", family == null ? "family" : vision == null ? "vision" : projector == null
                    ? "projector" : language == null ? "language" : "tiling", "not be null", null);
        }
        long merged = (long) vision.hidden() * vision.merge() * vision.merge();
        if (projector.in() != merged) {
            throw invalid("ModelConfig", "projector.in", "be vision hidden * merge^2 = " + merged, projector.in());
        }
        if (projector.out() != language.hidden()) {
            throw invalid("ModelConfig", "projector.out", "be the LM's hidden size " + language.hidden(), projector.out());
        }
        long most = (tiling.maxTiles() + 1L) * vision.tokensPerTile();
        if (most > Integer.MAX_VALUE) {
            throw invalid("ModelConfig", "maxTiles", "keep the visual tokens ((maxTiles + 1) x " + vision.tokensPerTile()
                    + " per tile) within 2^31 - 1", tiling.maxTiles());
        }
    }

    /** "Vision: 'hidden' must be ..., got 7": the part, then the component as the record names it. */
    static IllegalArgumentException invalid(String part, String component, String expected, Object actual) {
        return new IllegalArgumentException(part + ": '" + component + "' must " + expected + ", got " + actual);
    }

    private static void positive(String part, String component, long v) {
        if (v < 1) throw invalid(part, component, "be >= 1", v);
    }

    private static void positiveFinite(String part, String component, double v) {
        if (!(v > 0 && v < Double.POSITIVE_INFINITY)) throw invalid(part, component, "be finite and > 0", v);
    }

    /** Architecture family: decides norms, activations, attention layout and key names. */
    public enum Family {
        /** InternVL2 with an InternLM2 LM (InternVL2-2B, -8B...): packed wqkv, SwiGLU w1/w2/w3. */
        INTERNVL_INTERNLM2,
        /** InternVL2 with a Qwen2 LM (InternVL2-1B): q/k/v biases, gate/up/down. */
        INTERNVL_QWEN2,
        /** LLaVA-1.5: CLIP ViT-L/14-336, two-layer GELU projector, Llama/Vicuna LM. */
        LLAVA
    }

    /**
     * @param imageSize    input side in pixels (tiles are square)
     * @param patchSize    patch side in pixels
     * @param layers       encoder layers that run (LLaVA drops the last one: feature layer -2)
     * @param hidden       width
     * @param heads        attention heads
     * @param mlp          MLP width
     * @param merge        pixel-shuffle factor m (InternVL 2: m x m patches become one token)
     * @param layerScale   InternViT's per-channel residual scales (ls1, ls2)
     * @param preNorm      CLIP's extra LayerNorm before the first layer
     * @param quickGelu    CLIP's quick-GELU instead of GELU
     */
    public record Vision(int imageSize, int patchSize, int layers, int hidden, int heads, int mlp, int merge,
                         boolean layerScale, boolean preNorm, boolean quickGelu) {
        /** Positive sizes, whole heads, whole merge blocks on the patch grid, a patch count that fits an int. */
        public Vision {
            positive("Vision", "imageSize", imageSize);
            positive("Vision", "patchSize", patchSize);
            positive("Vision", "layers", layers);
            positive("Vision", "hidden", hidden);
            positive("Vision", "heads", heads);
            positive("Vision", "mlp", mlp);
            positive("Vision", "merge", merge);
            if (imageSize < patchSize) throw invalid("Vision", "imageSize", "be >= 'patchSize' (" + patchSize + ")", imageSize);
            if (hidden % heads != 0) throw invalid("Vision", "hidden", "be a multiple of 'heads' (" + heads + ")", hidden);
            int grid = imageSize / patchSize;
            if (grid % merge != 0) {
                throw invalid("Vision", "merge", "divide the patch grid ('imageSize' / 'patchSize' = " + imageSize + " / "
                        + patchSize + " = " + grid + ")", merge);
            }
            if ((long) grid * grid > Integer.MAX_VALUE) {
                throw invalid("Vision", "imageSize", "give at most 2^31 - 1 patches of 'patchSize' (" + patchSize + ")",
                        imageSize);
            }
        }

        public int grid() {
            return imageSize / patchSize;
        }

        public int patches() {
            return grid() * grid();
        }

        /** Visual tokens per tile after the merge. */
        public int tokensPerTile() {
            return patches() / (merge * merge);
        }

        public int headDim() {
            return hidden / heads;
        }
    }

    /**
     * @param layerNorm InternVL's LayerNorm on the merged features before the first Linear
     */
    public record Projector(int in, int hidden, int out, boolean layerNorm) {
        public Projector {
            positive("Projector", "in", in);
            positive("Projector", "hidden", hidden);
            positive("Projector", "out", out);
        }
    }

    /**
     * @param layers       decoder layers
     * @param hidden       width d
     * @param heads        query heads
     * @param kvHeads      key/value heads (GQA when < heads)
     * @param intermediate SwiGLU width m
     * @param vocab        vocabulary size (LM head rows)
     * @param qkvBias      biases on q/k/v (Qwen2)
     * @param ropeTheta    RoPE base
     * @param rmsEps       RMSNorm epsilon
     * @param tiedHead     the LM head is the token embedding ({@code tie_word_embeddings})
     * @param maxPositions the context length the model was trained for (max_position_embeddings):
     *                     longer sequences are refused rather than run off the end of its RoPE
     */
    public record Language(int layers, int hidden, int heads, int kvHeads, int intermediate, int vocab, boolean qkvBias,
                           double ropeTheta, double rmsEps, boolean tiedHead, int maxPositions) {
        /** Positive sizes, whole heads, whole GQA groups, a finite positive RoPE base and epsilon. */
        public Language {
            positive("Language", "layers", layers);
            positive("Language", "hidden", hidden);
            positive("Language", "heads", heads);
            positive("Language", "kvHeads", kvHeads);
            positive("Language", "intermediate", intermediate);
            positive("Language", "vocab", vocab);
            positive("Language", "maxPositions", maxPositions);
            if (hidden % heads != 0) throw invalid("Language", "hidden", "be a multiple of 'heads' (" + heads + ")", hidden);
            if (heads % kvHeads != 0) {
                throw invalid("Language", "heads", "be a multiple of 'kvHeads' (" + kvHeads + ")", heads);
            }
            positiveFinite("Language", "ropeTheta", ropeTheta);
            positiveFinite("Language", "rmsEps", rmsEps);
        }

        public int headDim() {
            return hidden / heads;
        }
    }

    /**
     * @param maxTiles  most local tiles of the dynamic grid (1 = a single view, no thumbnail)
     * @param thumbnail whether a thumbnail is added when an image has more than one tile
     */
    public record Tiling(int minTiles, int maxTiles, boolean thumbnail) {
        public Tiling {
            positive("Tiling", "minTiles", minTiles);
            if (maxTiles < minTiles) throw invalid("Tiling", "maxTiles", "be >= 'minTiles' (" + minTiles + ")", maxTiles);
        }

        public static final Tiling SINGLE = new Tiling(1, 1, false);
    }

    /** Visual tokens the LM sees for an image cut into `localTiles` tiles (+ thumbnail if any). */
    public int visualTokens(int localTiles) {
        int views = localTiles + (tiling.thumbnail() && localTiles > 1 ? 1 : 0);
        return views * vision.tokensPerTile();
    }

    // ------------------------------------------------------------------ presets

    private static final Map<String, ModelConfig> PRESETS = new LinkedHashMap<>();

    static {
        // CLIP ViT-L/14-336 as LLaVA-1.5 uses it: 24 layers, features of layer -2, so 23 run.
        Vision clip = new Vision(336, 14, 23, 1024, 16, 4096, 1, false, true, true);
        // InternViT-300M-448px: 24 layers, pixel shuffle 0.5 -> 256 tokens per 448 px tile.
        Vision internVit = new Vision(448, 14, 24, 1024, 16, 4096, 2, true, false, false);
        Tiling internTiling = new Tiling(1, 12, true);
        add(new ModelConfig("llava-1.5-7b", Family.LLAVA, clip, new Projector(1024, 4096, 4096, false),
                new Language(32, 4096, 32, 32, 11008, 32000, false, 10000, 1e-5, false, 4096), Tiling.SINGLE));
        add(new ModelConfig("llava-1.5-13b", Family.LLAVA, clip, new Projector(1024, 5120, 5120, false),
                new Language(40, 5120, 40, 40, 13824, 32000, false, 10000, 1e-5, false, 4096), Tiling.SINGLE));
        // InternVL2-1B: Qwen2-0.5B-Instruct (24 layers, 896 wide, 14 heads, 2 kv heads).
        add(new ModelConfig("internvl2-1b", Family.INTERNVL_QWEN2, internVit, new Projector(4096, 896, 896, true),
                new Language(24, 896, 14, 2, 4864, 151655, true, 1000000, 1e-6, false, 32768), internTiling));
        // InternVL2-2B: InternLM2-chat-1.8B (24 layers, 2048 wide, 16 heads, 8 kv heads).
        add(new ModelConfig("internvl2-2b", Family.INTERNVL_INTERNLM2, internVit, new Projector(4096, 2048, 2048, true),
                new Language(24, 2048, 16, 8, 8192, 92553, false, 1000000, 1e-5, false, 32768), internTiling));
        // A small InternVL-shaped model for the demo: InternVL's 448 px tiles of 32 x 32 patches
        // merged to 256 tokens, a narrow 6-layer ViT and a narrow 24-layer LM, so that it runs in
        // seconds on 2 CPU cores while, as in the real model, visual tokens dominate the prefill
        // (the bundled 3:2 image gives 6 tiles + thumbnail = 1,792 visual tokens).
        add(new ModelConfig("demo", Family.INTERNVL_INTERNLM2,
                new Vision(448, 14, 6, 192, 3, 768, 2, true, false, false), new Projector(768, 256, 256, true),
                new Language(24, 256, 4, 2, 704, 4096, false, 1000000, 1e-5, false, 8192), new Tiling(1, 6, true)));
        // The demo's ViT with a 4x wider LM: the proportions of InternVL2-8B (InternViT-300M +
        // InternLM2.5-7B, GQA 4:1), where the ViT is ~15% of the prefill FLOPs instead of ~30%.
        add(new ModelConfig("demo-8b", Family.INTERNVL_INTERNLM2,
                new Vision(448, 14, 6, 192, 3, 768, 2, true, false, false), new Projector(768, 512, 512, true),
                new Language(24, 512, 8, 2, 1792, 4096, false, 1000000, 1e-5, false, 8192), new Tiling(1, 6, true)));
        // LLaVA-1.5's layer counts at the demo's width: CLIP ViT-L/14-336's geometry (336 px, 576
        // patches, no merge, pre-norm, quick GELU) and 23 of its 24 layers run (features of layer
        // -2), a 32-layer LM. IVTP's paper setting runs here exactly as published (groups of 3:
        // 7 x 3 + 1 x 2 ViT layers, W = 12 LM layers) in seconds; the 7B preset's fp32 weights
        // (~28 GB) do not fit this machine.
        add(new ModelConfig("demo-llava", Family.LLAVA,
                new Vision(336, 14, 23, 192, 3, 768, 1, false, true, true), new Projector(192, 256, 256, false),
                new Language(32, 256, 4, 4, 704, 4096, false, 10000, 1e-5, false, 4096), Tiling.SINGLE));
        // The model trained on the synthetic VQA task (dev.vtprune.task, `vtprune train`): 112 px
        // tiles of 8 x 8 patches of 14 px, pixel shuffle 2 -> 16 tokens per tile; the task's
        // 448 x 224 images give 4 x 2 tiles + thumbnail = 144 visual tokens. Small enough to train
        // from scratch on 2 CPU cores; a 64-word vocabulary (the task's word-level tokenizer).
        add(new ModelConfig("vqa-tiny", Family.INTERNVL_INTERNLM2,
                new Vision(112, 14, 4, 64, 2, 256, 2, true, false, false), new Projector(256, 128, 128, true),
                new Language(3, 128, 4, 2, 384, 64, false, 10000, 1e-5, false, 2048), new Tiling(1, 8, true)));
        // For tests: every dimension tiny, both families.
        add(new ModelConfig("tiny", Family.INTERNVL_INTERNLM2,
                new Vision(56, 14, 2, 32, 2, 64, 2, true, false, false), new Projector(128, 48, 48, true),
                new Language(3, 48, 4, 2, 96, 300, false, 10000, 1e-5, false, 2048), new Tiling(1, 4, true)));
        add(new ModelConfig("tiny-llava", Family.LLAVA,
                new Vision(42, 14, 2, 32, 2, 64, 1, false, true, true), new Projector(32, 48, 48, false),
                new Language(3, 48, 4, 4, 96, 300, false, 10000, 1e-5, false, 2048), Tiling.SINGLE));
        add(new ModelConfig("tiny-qwen2", Family.INTERNVL_QWEN2,
                new Vision(56, 14, 2, 32, 2, 64, 2, true, false, false), new Projector(128, 48, 48, true),
                new Language(3, 48, 4, 2, 96, 300, true, 10000, 1e-6, false, 2048), new Tiling(1, 4, true)));
    }

    private static void add(ModelConfig c) {
        PRESETS.put(c.name(), c);
    }

    /** The preset of that name (case-insensitive), or an IllegalArgumentException listing them. */
    public static ModelConfig preset(String name) {
        ModelConfig c = name == null ? null : PRESETS.get(name.toLowerCase(Locale.ROOT));
        if (c == null) {
            throw new IllegalArgumentException("unknown model preset '" + name + "'; presets: " + String.join(", ", PRESETS.keySet()));
        }
        return c;
    }

    public static List<String> presetNames() {
        return List.copyOf(PRESETS.keySet());
    }

    /**
     * The config of a Hugging Face checkpoint from its config.json: InternVL2 chat models with an
     * InternLM2 or Qwen2 LM (InternVL2-1B, -2B...) and llava-hf LLaVA-1.5. Named after the json's
     * {@code _name_or_path}, or else its directory. Use it rather than a preset to load a real
     * checkpoint: llava-hf's vocabulary, for one, has 32064 rows where the preset says 32000.
     *
     * @throws IllegalArgumentException for other architectures or features the modules do not
     *                                  implement, text that is not UTF-8 or not JSON, a key of the
     *                                  wrong JSON type, or shapes no model can have, naming the
     *                                  file and the offending key
     * @throws java.io.UncheckedIOException when the file cannot be read
     */
    public static ModelConfig fromHuggingFace(Path configJson) {
        return HfConfig.read(configJson);
    }
}
