package dev.vtprune;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelLoader;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.pipeline.ByteTokenizer;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Tokenizer;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PseudoCls;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.TokenPruner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The way in: a model folder or a preset, a device, a dtype and a pruning method, to a
 * {@link LoadedModel} that runs images with their prompts.
 *
 * <pre>{@code
 * try (LoadedModel vlm = Vtprune.builder().preset("tiny").method("ptp").ratio(0.5).load();
 *      Result r = vlm.run(image, "Where is the red ball?")) {
 *     long[] kept = r.selection().keptIndices();
 * }
 * }</pre>
 *
 * <p>A model folder is a Hugging Face checkpoint as the loaders read it: {@code config.json},
 * the safetensors weights (one file or an index of shards) and the tokenizer
 * ({@code tokenizer.json}, else sentencepiece's {@code tokenizer.model}; without either the
 * prompt is encoded as UTF-8 bytes, announced on the progress sink). A preset
 * ({@link ModelConfig#presetNames()}) gets seeded random weights and the byte tokenizer: the
 * choices then follow the computation's structure, not the image's content.
 *
 * <p>Every setter checks what it can alone; {@link Builder#load()} checks the rest against the
 * model's config before any weight is read. Bad input is an {@link IllegalArgumentException}
 * naming the setter ("argument 'ratio' must be in [0, 1), got 1.0").
 */
public final class Vtprune {
    private Vtprune() {}

    /** The methods {@link Builder#method} takes: none (no pruning), ivtp, and {@link Pruners#NAMES}. */
    public static final List<String> METHODS;

    static {
        List<String> m = new ArrayList<>(List.of("none", "ptp", "ivtp"));
        for (String n : Pruners.NAMES) if (!m.contains(n)) m.add(n);
        METHODS = List.copyOf(m);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The checkpoint folder with every default: float32 on the CPU, PTP with the paper's r = 0.5, alpha = 0.5. */
    public static LoadedModel load(Path modelDir) {
        return builder().modelDir(modelDir).load();
    }

    /** What to load and how to prune; not thread-safe (build it on one thread). */
    public static final class Builder {
        private Path modelDir;
        private String preset;
        private String dtype = "float32";
        private String device = "cpu";
        private long seed = 1;
        private String method = "ptp";
        private double ratio = 0.5;
        private double alpha = 0.5;
        private Long keep;
        private Integer lmLayers;
        private boolean reuseProbe;
        private boolean originalPositions = true;
        private Consumer<String> progress = line -> {};

        private Builder() {}

        /** A Hugging Face checkpoint folder (or a file inside one); exclusive with {@link #preset}. */
        public Builder modelDir(Path dir) {
            this.modelDir = Args.notNull(dir, "modelDir");
            return this;
        }

        /** A preset of {@link ModelConfig#presetNames()}, with seeded random weights; exclusive with {@link #modelDir}. */
        public Builder preset(String name) {
            Args.notNull(name, "preset");
            try {
                ModelConfig.preset(name);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("argument 'preset': " + e.getMessage(), e);
            }
            this.preset = name;
            return this;
        }

        /** float32 (the default), bfloat16, float16, or auto: the checkpoint's own (float32 for a preset). */
        public Builder dtype(String name) {
            Args.notNull(name, "dtype");
            scalarType(name);
            this.dtype = name;
            return this;
        }

        /** cpu (the default), cuda or cuda:N (needs LibTorch's CUDA natives, checked at load). */
        public Builder device(String name) {
            Args.notNull(name, "device");
            cudaIndex(name);
            this.device = name;
            return this;
        }

        /** Seed of a preset's random weights and of the random method (default 1). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** One of {@link #METHODS} (default ptp); none runs unpruned. */
        public Builder method(String name) {
            Args.notNull(name, "method");
            if (!METHODS.contains(name)) throw Args.error("method", "be one of " + String.join(", ", METHODS), "'" + name + "'");
            this.method = name;
            return this;
        }

        /** Fraction of visual tokens dropped, in [0, 1) (default 0.5); IVTP keeps 1 - ratio per tile unless {@link #keep} is set. */
        public Builder ratio(double r) {
            if (!(r >= 0 && r < 1)) throw Args.error("ratio", "be in [0, 1)", r);
            this.ratio = r;
            return this;
        }

        /** PTP's weight of the instruction, in [0, 1] (default 0.5). */
        public Builder alpha(double a) {
            if (!(a >= 0 && a <= 1)) throw Args.error("alpha", "be in [0, 1]", a);
            this.alpha = a;
            return this;
        }

        /** IVTP only: visual tokens kept per tile at the end, >= 1 and at most the tile's tokens. */
        public Builder keep(long k) {
            this.keep = Args.atLeast(k, "keep", 1);
            return this;
        }

        /**
         * IVTP only: the LM layers that prune against the pseudo-CLS, >= 0 and at most the LM's
         * depth (default: the paper's 12 of 32 scaled to the LM's depth; 0 = the ViT stage only).
         */
        public Builder lmLayers(int w) {
            this.lmLayers = (int) Args.atLeast(w, "lmLayers", 0);
            return this;
        }

        /** PTP: continue the prefill from the probe's LM layers instead of re-running them (beyond the paper). */
        public Builder reuseProbe(boolean reuse) {
            this.reuseProbe = reuse;
            return this;
        }

        /**
         * Pruning before the LM (and IVTP's ViT stage): whether the kept tokens keep their RoPE
         * positions in the unpruned sequence (default true) or the shorter sequence is numbered
         * from 0 (see {@link LvlmPipeline.Options#originalPositions()}).
         */
        public Builder originalPositions(boolean keep) {
            this.originalPositions = keep;
            return this;
        }

        /** Where loading says what it does (a line at a time; default: nowhere). */
        public Builder progress(Consumer<String> sink) {
            this.progress = Args.notNull(sink, "progress");
            return this;
        }

        /**
         * Reads the config, checks the method's options against it, then builds or reads the
         * weights, moves them to the device and loads the tokenizer.
         *
         * @return the loaded model; close it
         */
        public LoadedModel load() {
            ModelConfig config = config();
            ScalarType type = scalarType(dtype);
            Device target = resolveDevice(device);
            IvtpPruner.Config ivtp = method.equals("ivtp") ? ivtpConfig(config) : null;
            if (!method.equals("ivtp")) {
                String name = keep != null ? "keep" : lmLayers != null ? "lmLayers" : null;
                if (name != null) {
                    throw new IllegalArgumentException("argument '" + name + "' applies to method ivtp only, got method '" + method + "'");
                }
            }
            Path clipDir = modelDir == null ? null : checkpointFolder();
            if (ivtp != null && ivtp.lmLayers() > 0 && modelDir != null && !dev.vtprune.train.ClipModel.present(clipDir)) {
                throw Args.error("lmLayers", "be 0 (the ViT stage only) with this checkpoint: IVTP's LM stage needs CLIP's text "
                        + "tower, and " + clipDir + " has none (clip_config.json + clip.* tensors, as ./vtprune train writes)", ivtp.lmLayers());
            }
            long t0 = System.nanoTime();
            Lvlm model = null;
            Tokenizer tokenizer = null;
            IvtpText ivtpText = null;
            try {
                model = weights(config, type, target);
                PromptTemplate template = PromptTemplate.forFamily(config.family());
                tokenizer = tokenizer(config, template);
                PyramidTokenPruner.Config ptp = PyramidTokenPruner.Config.PAPER.withRatio(ratio).withAlpha(alpha);
                TokenPruner pruner = method.equals("none") ? null : ivtp != null ? new IvtpPruner(ivtp) : Pruners.byName(method, ptp, seed);
                if (ivtp != null && ivtp.lmLayers() > 0) {
                    ivtpText = modelDir == null ? IvtpText.random(config, seed + 7, PseudoCls.PAPER_TAU)
                            : dev.vtprune.train.ClipModel.ivtpText(clipDir, config, PseudoCls.PAPER_TAU);
                }
                LvlmPipeline.Options options = pruner == null ? LvlmPipeline.Options.unpruned()
                        : LvlmPipeline.Options.of(pruner).withReuseProbe(reuseProbe).withOriginalPositions(originalPositions);
                String source = modelDir == null ? "seeded random weights" : "checkpoint " + modelDir;
                return new LoadedModel(model, tokenizer, template, ivtpText, method, ptp, ivtp, options, source,
                        (System.nanoTime() - t0) / 1e6);
            } catch (RuntimeException | Error e) {
                if (ivtpText != null) ivtpText.close();
                if (tokenizer != null) tokenizer.close();
                if (model != null) model.close();
                throw e;
            }
        }

        /**
         * The model alone, without tokenizer, template or pruner: for callers that feed token ids
         * themselves (`vtprune forward`). The method's options are not read.
         *
         * @return the model; close it
         */
        public Lvlm loadModel() {
            return weights(config(), scalarType(dtype), resolveDevice(device));
        }

        private ModelConfig config() {
            if (modelDir != null && preset != null) {
                throw Args.error("preset", "be left unset when modelDir is given", "'" + preset + "' and modelDir " + modelDir);
            }
            if (modelDir == null && preset == null) throw Args.error("modelDir", "be given (or a preset)", "neither");
            if (preset != null) return ModelConfig.preset(preset);
            if (!Files.exists(modelDir)) throw new IllegalArgumentException("argument 'modelDir': " + modelDir + " does not exist");
            Path json = configFile();
            if (!Files.exists(json)) throw new IllegalArgumentException("argument 'modelDir': no config.json in " + modelDir);
            return ModelConfig.fromHuggingFace(json);
        }

        private Path configFile() {
            return Files.isDirectory(modelDir) ? modelDir.resolve("config.json") : modelDir.resolveSibling("config.json");
        }

        /**
         * The paper's config with W = lmLayers, by default the paper's 12 of LLaVA's 32 LM layers
         * scaled to this LM's depth (at least 1); keep, else 1 - ratio, of each tile at the end.
         */
        private IvtpPruner.Config ivtpConfig(ModelConfig c) {
            int depth = c.language().layers();
            int w = lmLayers != null ? lmLayers : IvtpPruner.Config.scaledLmLayers(depth);
            if (w > depth) throw Args.error("lmLayers", "be <= " + depth + " (the LM's layers)", w);
            if (keep != null && keep > c.vision().tokensPerTile()) {
                throw Args.error("keep", "be <= " + c.vision().tokensPerTile() + " (the visual tokens per tile)", keep);
            }
            IvtpPruner.Config ic = IvtpPruner.Config.PAPER.withLmLayers(w);
            return keep != null ? ic.withFinalKeep(keep) : ic.withFinalRatio(Math.max(1e-9, 1 - ratio));
        }

        /** Random or read weights in `type` (null: the checkpoint's), on `target`. */
        private Lvlm weights(ModelConfig c, ScalarType type, Device target) {
            Lvlm cpu = modelDir == null ? randomWeights(c, type == null ? ScalarType.Float : type) : checkpoint(c, type);
            if (!target.is_cuda()) return cpu;
            try (cpu) {  // the host copy is not needed once the weights are on the GPU
                return cpu.to(target);
            }
        }

        /** Seeded random weights (the real presets are billions of parameters: say so while waiting). */
        private Lvlm randomWeights(ModelConfig c, ScalarType type) {
            long t0 = System.nanoTime();
            progress.accept("creating seeded random weights for the '" + c.name() + "' preset (" + Tensors.dtypeName(type) + ")...");
            Lvlm m = RandomWeights.create(c, seed, type);
            progress.accept(String.format(Locale.ROOT, "  %,d parameters in %.1f s", m.parameterCount(), (System.nanoTime() - t0) / 1e9));
            return m;
        }

        private Lvlm checkpoint(ModelConfig c, ScalarType type) {
            try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(modelDir)) {
                ScalarType run = type != null ? type : storedDtype(source);
                progress.accept("loading " + source.describe() + " as " + c.name() + " (" + c.family() + ", " + Tensors.dtypeName(run) + ")");
                return ModelLoader.load(c, source, run, msg -> progress.accept("  " + msg));
            }
        }

        /** The folder of the checkpoint: modelDir itself, or the folder of the weights file it names. */
        private Path checkpointFolder() {
            return Files.isDirectory(modelDir) ? modelDir : modelDir.toAbsolutePath().getParent();
        }

        /**
         * The checkpoint's tokenizer; else (and for presets) UTF-8 bytes mapped to the top of the
         * LM's vocabulary (only the prompt's length and layout matter then; said out loud for a
         * real checkpoint, whose choices then do not follow the text).
         */
        private Tokenizer tokenizer(ModelConfig c, PromptTemplate template) {
            if (modelDir != null) {
                Path dir = checkpointFolder();
                if (Files.exists(dir.resolve("tokenizer.json")) || Files.exists(dir.resolve("tokenizer.model"))) {
                    return Tokenizer.forCheckpoint(dir);
                }
                progress.accept("warning: neither tokenizer.json nor tokenizer.model in " + dir + ": the prompt is encoded as "
                        + "UTF-8 bytes, so the instruction relevance does not follow its words");
            }
            return new ByteTokenizer(c.language().vocab(), template.specials());
        }
    }

    /** The dtype the checkpoint stores its (first floating) weights in; float32 when none is. */
    private static ScalarType storedDtype(SafetensorsCheckpoint source) {
        for (String name : source.names()) {
            ScalarType t = source.info(name).dtype().scalarType();
            for (ScalarType f : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16, ScalarType.Half}) {
                if (t != null && t.value == f.value) return f;
            }
        }
        return ScalarType.Float;
    }

    /** The dtype of a name; null for auto. */
    private static ScalarType scalarType(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "auto" -> null;
            case "float32" -> ScalarType.Float;
            case "bfloat16" -> ScalarType.BFloat16;
            case "float16" -> ScalarType.Half;
            default -> throw Args.error("dtype", "be float32, bfloat16, float16 or auto", "'" + name + "'");
        };
    }

    /** -1 for cpu, else the CUDA device index of cuda / cuda:N. */
    private static int cudaIndex(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.equals("cpu")) return -1;
        if (n.equals("cuda")) return 0;
        if (n.matches("cuda:[0-9]{1,3}")) return Integer.parseInt(n.substring(5));
        throw Args.error("device", "be cpu, cuda or cuda:N", "'" + name + "'");
    }

    private static Device resolveDevice(String name) {
        int index = cudaIndex(name);
        if (index < 0) return Tensors.cpu();
        long count;
        try {
            count = torch.cuda_is_available() ? torch.cuda_device_count() : 0;
        } catch (Throwable e) {  // LibTorch's CUDA natives are not on the class path
            count = 0;
        }
        if (count == 0) {
            throw new IllegalArgumentException("argument 'device' is '" + name + "', but there is no CUDA device usable by "
                    + "LibTorch (its GPU natives, org.bytedeco:pytorch-platform-gpu, must be on the class path, with a driver and a GPU)");
        }
        if (index >= count) throw Args.error("device", "name one of the " + count + " CUDA devices", "'" + name + "'");
        return new Device(torch.DeviceType.CUDA, (byte) index);
    }
}
