package dev.vtprune;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Closing;
import dev.vtprune.model.LanguageModel;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.pipeline.LvlmPipeline;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.Result;
import dev.vtprune.pipeline.Tokenizer;
import dev.vtprune.prune.IvtpPruner;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.TokenPruner;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A model ready to serve: its weights on their device, its tokenizer and prompt template, the
 * {@link LvlmPipeline} that tiles, encodes and prefills, and the pruning method chosen when it
 * was loaded ({@link Vtprune#builder()}). Owns all of them: {@link #close()} frees them.
 *
 * <p>Thread-safe for concurrent requests: any number of threads may call the run methods at
 * once, and each request gets bit for bit what it gets alone (LoadedModelConcurrencyTest: 8
 * threads x mixed requests of every method, unpruned, PTP with and without the reused probe,
 * IVTP with its LM stage, the baselines, on one preset model with the byte tokenizer; a
 * checkpoint's tokenizer, DJL's Hugging Face one or sentencepiece, is outside that test: both
 * keep no Java state between calls, and their native encoders are read-only after loading).
 * The generate methods are requests too: each decodes with its own
 * {@link LanguageModel.Decoder} and sampler over the shared read-only weights, and gets its
 * serial tokens (GenerationTest, 3 threads, greedy and sampled, pruned and not).
 * {@link #close()} waits for the requests in flight and then frees; a
 * request started after it throws {@link IllegalStateException}. The objects the accessors hand
 * out are the loaded model's own: using them after close is the caller's error.
 */
public final class LoadedModel implements AutoCloseable {
    private final Closing closing = new Closing("LoadedModel");
    /** Runs hold the read side, close the write side: close never frees under a running request. */
    private final ReentrantReadWriteLock inFlight = new ReentrantReadWriteLock();
    private final Lvlm model;
    private final Tokenizer tokenizer;
    private final PromptTemplate template;
    private final IvtpText ivtpText;
    private final LvlmPipeline pipeline;
    private final String method;
    private final PyramidTokenPruner.Config ptpConfig;
    private final IvtpPruner.Config ivtpConfig;
    private final LvlmPipeline.Options options;
    private final String source;
    private final double loadMillis;

    LoadedModel(Lvlm model, Tokenizer tokenizer, PromptTemplate template, IvtpText ivtpText, String method,
                PyramidTokenPruner.Config ptpConfig, IvtpPruner.Config ivtpConfig, LvlmPipeline.Options options, String source,
                double loadMillis) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.template = template;
        this.ivtpText = ivtpText;
        this.pipeline = new LvlmPipeline(model, tokenizer, template, ivtpText);
        this.method = method;
        this.ptpConfig = ptpConfig;
        this.ivtpConfig = ivtpConfig;
        this.options = options;
        this.source = source;
        this.loadMillis = loadMillis;
    }

    /** One image with its prompt, pruned by the method this model was loaded with. */
    public Result run(BufferedImage image, String prompt) {
        return run(List.of(Args.notNull(image, "image")), List.of(Args.notNull(prompt, "prompt")), options);
    }

    /** One image with its prompt, not pruned (the baseline to compare against). */
    public Result runUnpruned(BufferedImage image, String prompt) {
        return run(List.of(Args.notNull(image, "image")), List.of(Args.notNull(prompt, "prompt")), LvlmPipeline.Options.unpruned());
    }

    /**
     * Images with one prompt each as one batch, with any options ({@link #options()} with
     * capture on, say, or another pruner).
     *
     * @return the result, owning its tensors (close it)
     */
    public Result run(List<BufferedImage> images, List<String> prompts, LvlmPipeline.Options options) {
        inFlight.readLock().lock();
        try {
            closing.check();
            return pipeline.run(images, prompts, options);
        } finally {
            inFlight.readLock().unlock();
        }
    }

    /**
     * Answers the prompt about the image, pruned by the loaded method: the pipeline's prefill,
     * then decoding over the KV cache of the kept tokens (see {@link GenerationConfig} for the
     * choice of tokens, {@link LanguageModel.Decoder} for the positions), each token streamed to
     * `listener` as it comes.
     */
    public Generation generate(BufferedImage image, String prompt, GenerationConfig config, TokenListener listener) {
        return generate(image, prompt, options, config, listener);
    }

    /** {@link #generate(BufferedImage, String, GenerationConfig, TokenListener)} without streaming. */
    public Generation generate(BufferedImage image, String prompt, GenerationConfig config) {
        return generate(image, prompt, options, config, TokenListener.NONE);
    }

    /** The same, not pruned (the baseline answer). */
    public Generation generateUnpruned(BufferedImage image, String prompt, GenerationConfig config, TokenListener listener) {
        return generate(image, prompt, LvlmPipeline.Options.unpruned(), config, listener);
    }

    /** One image with its prompt and any pipeline options, then decoding (see the first generate). */
    public Generation generate(BufferedImage image, String prompt, LvlmPipeline.Options options, GenerationConfig config,
                               TokenListener listener) {
        Args.notNull(config, "config");
        Args.notNull(listener, "listener");
        inFlight.readLock().lock();
        try {
            closing.check();
            try (Result r = pipeline.run(List.of(Args.notNull(image, "image")), List.of(Args.notNull(prompt, "prompt")),
                    Args.notNull(options, "options"))) {
                return Generator.run(model.language(), tokenizer, r, config, stopTokens(), listener);
            }
        } finally {
            inFlight.readLock().unlock();
        }
    }

    /**
     * Decodes after a one-image result of {@link #run} (which stays the caller's, unchanged: the
     * decoder copies its cache); its TTFT is the result's stages plus the first token's choice.
     */
    public Generation generate(Result prefilled, GenerationConfig config, TokenListener listener) {
        inFlight.readLock().lock();
        try {
            closing.check();
            return Generator.run(model.language(), tokenizer, prefilled, config, stopTokens(), listener);
        } finally {
            inFlight.readLock().unlock();
        }
    }

    /**
     * The tokenizer's end of an answer, the stop tokens a generation uses unless told otherwise:
     * the template's end of turn as one token of this tokenizer ({@code <|im_end|>} for
     * InternVL2's chat template, the EOS {@code </s>} for LLaVA-1.5's), or none when it has no
     * such token (LLaVA's template with the byte tokenizer).
     */
    public long[] stopTokens() {
        closing.check();
        String end = template.equals(PromptTemplate.LLAVA) ? "</s>" : "<|im_end|>";
        try {
            return new long[] {tokenizer.tokenId(end)};
        } catch (IllegalArgumentException e) {
            return new long[0];
        }
    }

    /** The options {@link #run(BufferedImage, String)} uses: the loaded method (unpruned for none). */
    public LvlmPipeline.Options options() {
        closing.check();
        return options;
    }

    /** The method's name, one of {@link Vtprune#METHODS}. */
    public String method() {
        return method;
    }

    /** The pruner, or null for method none. */
    public TokenPruner pruner() {
        closing.check();
        return options.pruner();
    }

    /** PTP's config (its ratio is also the baselines'; its lmLayer FastV's layer K). */
    public PyramidTokenPruner.Config ptpConfig() {
        return ptpConfig;
    }

    /** IVTP's config, or null unless the method is ivtp. */
    public IvtpPruner.Config ivtpConfig() {
        return ivtpConfig;
    }

    public ModelConfig config() {
        closing.check();
        return model.config();
    }

    public Lvlm model() {
        closing.check();
        return model;
    }

    public Tokenizer tokenizer() {
        closing.check();
        return tokenizer;
    }

    public PromptTemplate template() {
        closing.check();
        return template;
    }

    /** The pipeline the run methods use (for {@link LvlmPipeline#tile} and the probe-layer scaling). */
    public LvlmPipeline pipeline() {
        closing.check();
        return pipeline;
    }

    /** CLIP's side of IVTP's LM stage (seeded random for presets), or null when no LM stage runs. */
    public IvtpText ivtpText() {
        closing.check();
        return ivtpText;
    }

    /** True when the weights are a preset's seeded random ones (the choices are then structural, not semantic). */
    public boolean randomWeights() {
        return source.startsWith("seeded");
    }

    /** Where the weights came from: "seeded random weights" or "checkpoint DIR". */
    public String source() {
        return source;
    }

    /** Milliseconds {@link Vtprune.Builder#load()} took. */
    public double loadMillis() {
        return loadMillis;
    }

    /** Waits for the requests in flight, then frees the weights, the tokenizer and IVTP's text side; idempotent. */
    @Override
    public void close() {
        if (!closing.close()) return;
        inFlight.writeLock().lock();
        try {
            if (ivtpText != null) ivtpText.close();
            tokenizer.close();
            model.close();
        } finally {
            inFlight.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "LoadedModel[" + source + ", method " + method + (closing.isClosed() ? ", closed" : "") + "]";
    }
}
