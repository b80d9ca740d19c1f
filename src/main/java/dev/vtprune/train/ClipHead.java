package dev.vtprune.train;

import dev.vtprune.internal.Tensors;
import dev.vtprune.task.WordTokenizer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The CLIP half that the LVLM does not keep: a text tower (token + position embeddings, one
 * pre-norm transformer layer over the caption, final LayerNorm, mean over its tokens, linear
 * projection) and the image side's head on the ViT's CLS state (LayerNorm, projection), with
 * a learnt temperature. Stage 1 trains the ViT through it so that its CLS token summarises
 * what a tile shows, which is what PTP's CLS attention and IVTP's text relevance read.
 *
 * <p>Weights are unscoped and require grad; {@link #weights()} names them as saved
 * ({@code clip.text.*}, {@code clip.visual.*}, {@code clip.logit_scale}).
 */
final class ClipHead implements AutoCloseable {
    static final int MAX_TOKENS = 24;
    private final Map<String, Tensor> w = new LinkedHashMap<>();
    private final int width, heads;

    ClipHead(int vocab, int visionWidth, int width, int embed, long seed) {
        this.width = width;
        this.heads = 2;
        Generator g = torch.createCPUGenerator(seed);
        normal(g, "clip.text.embed", 1.0 / Math.sqrt(width), vocab, width);
        normal(g, "clip.text.pos", 0.02, MAX_TOKENS, width);
        ones("clip.text.norm1.weight", width);
        zeros("clip.text.norm1.bias", width);
        normal(g, "clip.text.qkv.weight", 1 / Math.sqrt(width), 3L * width, width);
        zeros("clip.text.qkv.bias", 3L * width);
        normal(g, "clip.text.proj.weight", 1 / Math.sqrt(width), width, width);
        zeros("clip.text.proj.bias", width);
        ones("clip.text.norm2.weight", width);
        zeros("clip.text.norm2.bias", width);
        normal(g, "clip.text.fc1.weight", 1 / Math.sqrt(width), 2L * width, width);
        zeros("clip.text.fc1.bias", 2L * width);
        normal(g, "clip.text.fc2.weight", 1 / Math.sqrt(2.0 * width), width, 2L * width);
        zeros("clip.text.fc2.bias", width);
        ones("clip.text.final_norm.weight", width);
        zeros("clip.text.final_norm.bias", width);
        normal(g, "clip.text.projection", 1 / Math.sqrt(width), embed, width);
        ones("clip.visual.norm.weight", visionWidth);
        zeros("clip.visual.norm.bias", visionWidth);
        normal(g, "clip.visual.projection", 1 / Math.sqrt(visionWidth), embed, visionWidth);
        put("clip.logit_scale", Tensors.full(ScalarType.Float, Tensors.cpu(), Math.log(10), 1));
    }

    private void put(String name, Tensor t) {
        t.requires_grad_(true);
        w.put(name, t);
    }

    private void normal(Generator g, String name, double std, long... shape) {
        put(name, Tensors.unscoped(() -> torch.randn(shape, new GeneratorOptional(g),
                Tensors.options(ScalarType.Float, Tensors.cpu())).mul(new Scalar(std))));
    }

    private void ones(String name, long n) {
        put(name, Tensors.unscoped(() -> Tensors.full(ScalarType.Float, Tensors.cpu(), 1.0, n)));
    }

    private void zeros(String name, long n) {
        put(name, Tensors.unscoped(() -> Tensors.zeros(ScalarType.Float, Tensors.cpu(), n)));
    }

    Map<String, Tensor> weights() {
        return w;
    }

    private Tensor p(String name) {
        return w.get(name);
    }

    private Tensor norm(Tensor x, String name) {
        return torch.layer_norm(x, new long[] {x.size(-1)}, new TensorOptional(p(name + ".weight")),
                new TensorOptional(p(name + ".bias")), 1e-5, false);
    }

    private Tensor linear(Tensor x, String name) {
        return torch.linear(x, p(name + ".weight"), new TensorOptional(p(name + ".bias")));
    }

    /** Unit-norm caption embeddings [N, embed]. */
    Tensor text(List<String> captions, WordTokenizer tok) {
        int n = captions.size();
        long[][] ids = new long[n][];
        int max = 1;
        for (int i = 0; i < n; i++) {
            ids[i] = tok.encode(captions.get(i));
            if (ids[i].length == 0 || ids[i].length > MAX_TOKENS) {
                throw new IllegalArgumentException("caption '" + captions.get(i) + "' has " + ids[i].length
                        + " tokens; expected 1 to " + MAX_TOKENS);
            }
            max = Math.max(max, ids[i].length);
        }
        long[] flat = new long[n * max];
        float[] valid = new float[n * max];
        for (int i = 0; i < n; i++) {
            System.arraycopy(ids[i], 0, flat, i * max, ids[i].length);
            for (int j = 0; j < ids[i].length; j++) valid[i * max + j] = 1;
        }
        Tensor mask = Tensors.floats(valid, n, max);                                      // [N, L]
        Tensor x = torch.embedding(p("clip.text.embed"), Tensor.create(flat, n, max)).add(p("clip.text.pos").narrow(0, 0, max));
        long d = width / heads;
        Tensor qkv = linear(norm(x, "clip.text.norm1"), "clip.text.qkv").view(n, max, 3, heads, d).permute(2, 0, 3, 1, 4);
        Tensor visible = mask.gt(new Scalar(0.5)).view(n, 1, 1, max);
        Tensor a = torch.scaled_dot_product_attention(qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2),
                new TensorOptional(visible), 0.0, false, new DoubleOptional(), false);
        x = x.add(linear(a.transpose(1, 2).reshape(n, max, width), "clip.text.proj"));
        x = x.add(linear(torch.gelu(linear(norm(x, "clip.text.norm2"), "clip.text.fc1")), "clip.text.fc2"));
        x = norm(x, "clip.text.final_norm");
        Tensor pooled = x.mul(mask.unsqueeze(2)).sum(1).div(mask.sum(1).unsqueeze(1));
        return unit(torch.linear(pooled, p("clip.text.projection")));
    }

    /** Unit-norm image embeddings [N, embed] from CLS states [N, visionWidth]. */
    Tensor image(Tensor cls) {
        return unit(torch.linear(norm(cls, "clip.visual.norm"), p("clip.visual.projection")));
    }

    private static Tensor unit(Tensor x) {
        return x.div(x.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {1}, true)
                .clamp_min(new Scalar(1e-6)));
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
        Tensor logits = images.matmul(texts.t()).mul(p("clip.logit_scale").clamp_max(new Scalar(Math.log(100))).exp());
        Tensor li = torch.log_softmax(logits, 1).mul(t).sum(1).mean().neg();
        Tensor lt = torch.log_softmax(logits.t(), 1).mul(t).sum(1).mean().neg();
        return li.add(lt).div(new Scalar(2.0));
    }

    @Override
    public void close() {
        try (PointerScope ignored = new PointerScope()) {
            for (Tensor t : w.values()) t.close();
        }
    }
}
