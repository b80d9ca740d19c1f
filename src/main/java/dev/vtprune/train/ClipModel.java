package dev.vtprune.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.internal.Tensors;
import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.io.TensorSource;
import dev.vtprune.model.ClipTextModel;
import dev.vtprune.model.ClipVisualHead;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.pipeline.IvtpText;
import dev.vtprune.task.ClipWords;
import dev.vtprune.task.WordTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The CLIP half that the LVLM does not keep, made of the project's own inference modules so
 * that IVTP's LM stage can read it back: a {@link ClipTextModel} (1 causal layer, width 64,
 * pooled at the end token as HF CLIP pools) over {@link ClipWords}, a {@link ClipVisualHead}
 * on the ViT's CLS state, and a learnt temperature. Stage 1 trains the ViT through it so that
 * its CLS token summarises what a tile shows, which is what PTP's CLS attention and IVTP's
 * text relevance read.
 *
 * <p>Saved in the LVLM's model.safetensors under {@value #PREFIX} + the HF CLIP keys
 * ({@code clip.text_model.*}, {@code clip.text_projection.weight},
 * {@code clip.vision_model.post_layernorm.*}, {@code clip.visual_projection.weight},
 * {@code clip.logit_scale}), its shape in {@value #CONFIG} (an HF CLIPConfig); {@link #ivtpText}
 * reads both back.
 */
public final class ClipModel implements AutoCloseable {
    public static final String PREFIX = "clip.", CONFIG = "clip_config.json";
    /** Longest caption in task words; the position table adds the start and end tokens. */
    static final int MAX_WORDS = 30;
    private static final double EPS = 1e-5;

    private final ClipWords tok;
    private final ClipTextModel text;
    private final ClipVisualHead visual;
    private final Tensor logitScale;
    private final int visionHidden;

    ClipModel(WordTokenizer words, int visionHidden, long seed) {
        this.tok = new ClipWords(words);
        this.visionHidden = visionHidden;
        ClipTextModel.Config cfg = new ClipTextModel.Config(tok.size(), 64, 128, 1, 2, MAX_WORDS + 2, 64, EPS);
        this.text = ClipTextModel.random(cfg, seed, ScalarType.Float);
        this.visual = ClipVisualHead.random(visionHidden, cfg.projection(), EPS, seed + 1, ScalarType.Float);
        this.logitScale = Tensors.unscoped(() -> Tensors.full(ScalarType.Float, Tensors.cpu(), Math.log(10), 1));
        for (Tensor t : weights().values()) t.requires_grad_(true);
    }

    /** Every trained tensor by its saved name. */
    Map<String, Tensor> weights() {
        Map<String, Tensor> w = new LinkedHashMap<>();
        text.weights().forEach((k, v) -> w.put(PREFIX + k, v));
        visual.weights().forEach((k, v) -> w.put(PREFIX + k, v));
        w.put(PREFIX + "logit_scale", logitScale);
        return w;
    }

    /** Unit-norm caption embeddings [N, projection]. */
    Tensor text(List<String> captions) {
        long[][] ids = new long[captions.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tok.encode(captions.get(i), true).ids();
            if (ids[i].length > MAX_WORDS + 2) {
                throw new IllegalArgumentException("caption '" + captions.get(i) + "' has " + (ids[i].length - 2)
                        + " words; expected at most " + MAX_WORDS);
            }
        }
        return unit(text.textEmbeds(ids));
    }

    /** Unit-norm image embeddings [N, projection] from CLS states [N, visionHidden]. */
    Tensor image(Tensor cls) {
        return unit(visual.apply(cls));
    }

    private static Tensor unit(Tensor x) {
        return x.div(x.norm(new ScalarOptional(new Scalar(2.0)), new long[] {1}, true).clamp_min(new Scalar(1e-6)));
    }

    /**
     * Symmetric InfoNCE over the N x N similarities, with every pair of identical captions a
     * positive (tiles showing "nothing" are many): each row's target is uniform over them.
     */
    Tensor loss(Tensor images, Tensor texts, List<String> captions) {
        int n = captions.size();
        float[] target = new float[n * n];
        for (int i = 0; i < n; i++) {
            int same = 0;
            for (int j = 0; j < n; j++) if (captions.get(i).equals(captions.get(j))) same++;
            for (int j = 0; j < n; j++) if (captions.get(i).equals(captions.get(j))) target[i * n + j] = 1f / same;
        }
        Tensor t = Tensors.floats(target, n, n);  // symmetric, so rows of its transpose are the same targets
        Tensor logits = images.matmul(texts.t()).mul(logitScale.clamp_max(new Scalar(Math.log(100))).exp());
        Tensor li = torch.log_softmax(logits, 1).mul(t).sum(1).mean().neg();
        Tensor lt = torch.log_softmax(logits.t(), 1).mul(t).sum(1).mean().neg();
        return li.add(lt).div(new Scalar(2.0));
    }

    /** Writes {@value #CONFIG} into the checkpoint directory (the tensors go with the LVLM's). */
    void writeConfig(Path dir) {
        ClipTextModel.Config c = text.config();
        JsonObject t = new JsonObject();
        t.addProperty("vocab_size", c.vocab());
        t.addProperty("hidden_size", c.hidden());
        t.addProperty("intermediate_size", c.intermediate());
        t.addProperty("num_hidden_layers", c.layers());
        t.addProperty("num_attention_heads", c.heads());
        t.addProperty("max_position_embeddings", c.maxPositions());
        t.addProperty("hidden_act", "quick_gelu");
        t.addProperty("layer_norm_eps", c.eps());
        t.addProperty("bos_token_id", tok.startId());
        t.addProperty("eos_token_id", tok.endId());
        JsonObject v = new JsonObject();
        v.addProperty("hidden_size", visionHidden);
        v.addProperty("layer_norm_eps", EPS);
        JsonObject root = new JsonObject();
        root.addProperty("model_type", "clip");
        root.addProperty("projection_dim", c.projection());
        root.add("text_config", t);
        root.add("vision_config", v);
        try {
            Files.writeString(dir.resolve(CONFIG), new com.google.gson.GsonBuilder().setPrettyPrinting().create().toJson(root),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(CONFIG), e);
        }
    }

    /** Whether `dir` holds a CLIP tower this class wrote. */
    public static boolean present(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG));
    }

    /**
     * IVTP's text side from a checkpoint this trainer wrote: the tower, the task's tokenizer
     * (the directory's tokenizer.json) with CLIP's start and end ids, and the visual head on
     * `lvlm`'s ViT, whose CLS states it was trained on.
     *
     * @throws IllegalArgumentException when the directory has no CLIP tower or it does not fit
     */
    public static IvtpText ivtpText(Path dir, ModelConfig lvlm, double tau) {
        if (!present(dir)) {
            throw new IllegalArgumentException("checkpoint " + dir + " has no " + CONFIG + ": it carries no CLIP text tower "
                    + "(written before the trainer saved one); retrain it with ./vtprune train --out " + dir);
        }
        ClipTextModel.Config cfg = ClipTextModel.Config.fromHuggingFace(dir.resolve(CONFIG));
        WordTokenizer words = WordTokenizer.load(dir.resolve("tokenizer.json"));
        ClipWords tok = new ClipWords(words);
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(dir.resolve(CONFIG))).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(CONFIG), e);
        }
        JsonObject t = root.getAsJsonObject("text_config");
        long bos = t.has("bos_token_id") ? t.get("bos_token_id").getAsLong() : -1;
        long eos = t.has("eos_token_id") ? t.get("eos_token_id").getAsLong() : -1;
        if (cfg.vocab() != tok.size() || bos != tok.startId() || eos != tok.endId()) {
            throw new IllegalArgumentException(dir.resolve(CONFIG) + ": vocab_size " + cfg.vocab() + ", bos " + bos + ", eos " + eos
                    + " do not fit the tokenizer.json beside it (expected " + tok.size() + ", " + tok.startId() + ", " + tok.endId() + ")");
        }
        double eps = root.has("vision_config") && root.getAsJsonObject("vision_config").has("layer_norm_eps")
                ? root.getAsJsonObject("vision_config").get("layer_norm_eps").getAsDouble() : EPS;
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            TensorSource clip = prefixed(ck);
            ClipTextModel tower = ClipTextModel.load(cfg, clip, ScalarType.Float);
            try {
                return new IvtpText(tower, tok, ClipVisualHead.load(clip, lvlm.vision().hidden(), cfg.projection(), eps,
                        ScalarType.Float), tau);
            } catch (RuntimeException e) {
                tower.close();
                throw e;
            }
        }
    }

    /** The tensors under {@value #PREFIX}, by their names without it. */
    private static TensorSource prefixed(TensorSource all) {
        return new TensorSource() {
            @Override
            public Set<String> names() {
                return all.names().stream().filter(n -> n.startsWith(PREFIX)).map(n -> n.substring(PREFIX.length()))
                        .collect(Collectors.toSet());
            }

            @Override
            public Tensor load(String name) {
                return all.load(PREFIX + name);
            }

            @Override
            public String describe() {
                return all.describe() + " (" + PREFIX + "*)";
            }
        };
    }

    @Override
    public void close() {
        text.close();
        visual.close();
        try (PointerScope ignored = new PointerScope()) {
            logitScale.close();
        }
    }
}
