package dev.vtprune.model;

import dev.vtprune.model.ModelConfig.Family;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A random checkpoint of a config under the REAL Hugging Face key names and shapes, written
 * from the HF module trees (InternVLChatModel, LlavaForConditionalGeneration), independently of
 * the loader. Alongside, {@link #canonical} records what each model weight must then hold (q/k/v
 * and gate/up concatenated, InternLM2's wqkv unpacked...), so a round trip can compare all of them.
 * Values are scaled like a trained model's (unit-variance activations), norms and layer scales
 * jittered so that a swapped tensor shows.
 */
final class TestCheckpoint {
    enum Layout { INTERNVL, LLAVA_LEGACY, LLAVA_MODERN }

    final Map<String, Tensor> hf = new LinkedHashMap<>();
    final Map<String, Tensor> canonical = new LinkedHashMap<>();
    private final Generator gen;

    private TestCheckpoint(long seed) {
        gen = torch.createCPUGenerator(seed);
    }

    static TestCheckpoint of(ModelConfig c, long seed) {
        return of(c, seed, c.family() == Family.LLAVA ? Layout.LLAVA_LEGACY : Layout.INTERNVL);
    }

    static TestCheckpoint of(ModelConfig c, long seed, Layout layout) {
        TestCheckpoint ck = new TestCheckpoint(seed);
        boolean llava = layout != Layout.INTERNVL;
        String vision = layout == Layout.INTERNVL ? "vision_model."
                : layout == Layout.LLAVA_LEGACY ? "vision_tower.vision_model." : "model.vision_tower.vision_model.";
        if (llava) ck.clip(c, vision); else ck.internVit(c, vision);
        ck.projector(c, layout);
        String lm = layout == Layout.LLAVA_MODERN ? "model.language_model." : "language_model.model.";
        String head = layout == Layout.LLAVA_MODERN ? "lm_head.weight"
                : c.family() == Family.INTERNVL_INTERNLM2 ? "language_model.output.weight"
                : "language_model.lm_head.weight";
        ck.decoder(c, lm, head, c.family() == Family.INTERNVL_INTERNLM2);
        return ck;
    }

    // ------------------------------------------------------------------ random values

    Tensor normal(double mean, double std, long... shape) {
        return torch.randn(shape, new GeneratorOptional(gen), new org.bytedeco.pytorch.TensorOptions(ScalarType.Float))
                .mul(new Scalar(std)).add(new Scalar(mean));
    }

    /** Linear weight [out, in] with unit-variance outputs. */
    private Tensor w(long out, long in) {
        return normal(0, 1 / Math.sqrt(in), out, in);
    }

    private Tensor bias(long n) {
        return normal(0, 0.1, n);
    }

    private Tensor norm(long n) {
        return normal(1, 0.1, n);
    }

    private void both(String hfKey, String canonicalName, Tensor t) {
        hf.put(hfKey, t);
        canonical.put(canonicalName, t);
    }

    private static Tensor cat(Tensor... parts) {
        return torch.cat(new TensorVector(parts), 0);
    }

    // ------------------------------------------------------------------ vision

    private void internVit(ModelConfig c, String p) {
        ModelConfig.Vision v = c.vision();
        long h = v.hidden();
        Tensor cls = normal(0, 0.5, 1, 1, h), pos = normal(0, 0.5, 1, 1 + v.patches(), h);
        hf.put(p + "embeddings.class_embedding", cls);
        canonical.put("vision.cls", cls.reshape(h));
        hf.put(p + "embeddings.position_embedding", pos);
        canonical.put("vision.pos", pos.reshape(1 + v.patches(), h));
        both(p + "embeddings.patch_embedding.weight", "vision.patch.weight",
                normal(0, 1 / Math.sqrt(3.0 * v.patchSize() * v.patchSize()), h, 3, v.patchSize(), v.patchSize()));
        both(p + "embeddings.patch_embedding.bias", "vision.patch.bias", bias(h));
        for (int i = 0; i < v.layers(); i++) {
            String l = p + "encoder.layers." + i + ".", k = "vision.layers." + i + ".";
            both(l + "norm1.weight", k + "norm1.weight", norm(h));
            both(l + "norm1.bias", k + "norm1.bias", bias(h));
            both(l + "attn.qkv.weight", k + "attn.qkv.weight", w(3 * h, h));
            both(l + "attn.qkv.bias", k + "attn.qkv.bias", bias(3 * h));
            both(l + "attn.proj.weight", k + "attn.proj.weight", w(h, h));
            both(l + "attn.proj.bias", k + "attn.proj.bias", bias(h));
            both(l + "ls1", k + "ls1", normal(0.5, 0.2, h));
            both(l + "norm2.weight", k + "norm2.weight", norm(h));
            both(l + "norm2.bias", k + "norm2.bias", bias(h));
            both(l + "mlp.fc1.weight", k + "mlp.fc1.weight", w(v.mlp(), h));
            both(l + "mlp.fc1.bias", k + "mlp.fc1.bias", bias(v.mlp()));
            both(l + "mlp.fc2.weight", k + "mlp.fc2.weight", w(h, v.mlp()));
            both(l + "mlp.fc2.bias", k + "mlp.fc2.bias", bias(h));
            both(l + "ls2", k + "ls2", normal(0.5, 0.2, h));
        }
    }

    private void clip(ModelConfig c, String p) {
        ModelConfig.Vision v = c.vision();
        long h = v.hidden();
        both(p + "embeddings.class_embedding", "vision.cls", normal(0, 0.5, h));
        both(p + "embeddings.patch_embedding.weight", "vision.patch.weight",
                normal(0, 1 / Math.sqrt(3.0 * v.patchSize() * v.patchSize()), h, 3, v.patchSize(), v.patchSize()));
        both(p + "embeddings.position_embedding.weight", "vision.pos", normal(0, 0.5, 1 + v.patches(), h));
        // A buffer some CLIP checkpoints carry; int64, unused.
        hf.put(p + "embeddings.position_ids", torch.arange(new Scalar(1 + v.patches())).unsqueeze(0));
        both(p + "pre_layrnorm.weight", "vision.pre_norm.weight", norm(h));
        both(p + "pre_layrnorm.bias", "vision.pre_norm.bias", bias(h));
        // CLIP has one more layer than LLaVA runs (feature layer -2), and a post-layernorm: unused.
        for (int i = 0; i <= v.layers(); i++) {
            String l = p + "encoder.layers." + i + ".", k = "vision.layers." + i + ".";
            boolean used = i < v.layers();
            Tensor[] qkvW = {w(h, h), w(h, h), w(h, h)}, qkvB = {bias(h), bias(h), bias(h)};
            String[] names = {"q", "k", "v"};
            for (int j = 0; j < 3; j++) {
                hf.put(l + "self_attn." + names[j] + "_proj.weight", qkvW[j]);
                hf.put(l + "self_attn." + names[j] + "_proj.bias", qkvB[j]);
            }
            Tensor[] rest = {norm(h), bias(h), w(h, h), bias(h), norm(h), bias(h), w(v.mlp(), h), bias(v.mlp()),
                w(h, v.mlp()), bias(h)};
            String[] hfNames = {"layer_norm1.weight", "layer_norm1.bias", "self_attn.out_proj.weight",
                "self_attn.out_proj.bias", "layer_norm2.weight", "layer_norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                "mlp.fc2.weight", "mlp.fc2.bias"};
            String[] ours = {"norm1.weight", "norm1.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight",
                "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};
            for (int j = 0; j < rest.length; j++) {
                hf.put(l + hfNames[j], rest[j]);
                if (used) canonical.put(k + ours[j], rest[j]);
            }
            if (used) {
                canonical.put(k + "attn.qkv.weight", cat(qkvW));
                canonical.put(k + "attn.qkv.bias", cat(qkvB));
            }
        }
        hf.put(p + "post_layernorm.weight", norm(h));
        hf.put(p + "post_layernorm.bias", bias(h));
    }

    // ------------------------------------------------------------------ projector

    private void projector(ModelConfig c, Layout layout) {
        ModelConfig.Projector p = c.projector();
        if (layout == Layout.INTERNVL) {
            both("mlp1.0.weight", "projector.norm.weight", norm(p.in()));
            both("mlp1.0.bias", "projector.norm.bias", bias(p.in()));
            both("mlp1.1.weight", "projector.fc1.weight", w(p.hidden(), p.in()));
            both("mlp1.1.bias", "projector.fc1.bias", bias(p.hidden()));
            both("mlp1.3.weight", "projector.fc2.weight", w(p.out(), p.hidden()));
            both("mlp1.3.bias", "projector.fc2.bias", bias(p.out()));
        } else {
            String m = layout == Layout.LLAVA_LEGACY ? "multi_modal_projector." : "model.multi_modal_projector.";
            both(m + "linear_1.weight", "projector.fc1.weight", w(p.hidden(), p.in()));
            both(m + "linear_1.bias", "projector.fc1.bias", bias(p.hidden()));
            both(m + "linear_2.weight", "projector.fc2.weight", w(p.out(), p.hidden()));
            both(m + "linear_2.bias", "projector.fc2.bias", bias(p.out()));
        }
    }

    // ------------------------------------------------------------------ decoder

    private void decoder(ModelConfig c, String p, String head, boolean internLm2) {
        ModelConfig.Language lc = c.language();
        long h = lc.hidden(), d = lc.headDim(), hq = lc.heads(), hkv = lc.kvHeads(), m = lc.intermediate();
        both(p + (internLm2 ? "tok_embeddings.weight" : "embed_tokens.weight"), "language.embed",
                normal(0, 1, lc.vocab(), h));
        for (int i = 0; i < lc.layers(); i++) {
            String l = p + "layers." + i + ".", k = "language.layers." + i + ".";
            Tensor q = w(hq * d, h), kk = w(hkv * d, h), v = w(hkv * d, h);
            Tensor gate = w(m, h), up = w(m, h);
            canonical.put(k + "attn.qkv.weight", cat(q, kk, v));
            canonical.put(k + "mlp.gate_up.weight", cat(gate, up));
            if (internLm2) {
                hf.put(l + "attention.wqkv.weight", packWqkv(q, kk, v, hkv, hq / hkv, d, h));
                both(l + "attention.wo.weight", k + "attn.o.weight", w(h, hq * d));
                both(l + "attention_norm.weight", k + "attn_norm", norm(h));
                both(l + "ffn_norm.weight", k + "mlp_norm", norm(h));
                hf.put(l + "feed_forward.w1.weight", gate);
                hf.put(l + "feed_forward.w3.weight", up);
                both(l + "feed_forward.w2.weight", k + "mlp.down.weight", w(h, m));
            } else {
                hf.put(l + "self_attn.q_proj.weight", q);
                hf.put(l + "self_attn.k_proj.weight", kk);
                hf.put(l + "self_attn.v_proj.weight", v);
                if (lc.qkvBias()) {
                    Tensor qb = bias(hq * d), kb = bias(hkv * d), vb = bias(hkv * d);
                    hf.put(l + "self_attn.q_proj.bias", qb);
                    hf.put(l + "self_attn.k_proj.bias", kb);
                    hf.put(l + "self_attn.v_proj.bias", vb);
                    canonical.put(k + "attn.qkv.bias", cat(qb, kb, vb));
                }
                both(l + "self_attn.o_proj.weight", k + "attn.o.weight", w(h, hq * d));
                both(l + "input_layernorm.weight", k + "attn_norm", norm(h));
                both(l + "post_attention_layernorm.weight", k + "mlp_norm", norm(h));
                hf.put(l + "mlp.gate_proj.weight", gate);
                hf.put(l + "mlp.up_proj.weight", up);
                both(l + "mlp.down_proj.weight", k + "mlp.down.weight", w(h, m));
            }
        }
        both(p + "norm.weight", "language.norm", norm(h));
        both(head, "language.head.weight", w(lc.vocab(), h));
    }

    /**
     * HF InternLM2's packed layout, the inverse of its forward's
     * {@code rearrange(qkv, "b q (h gs d) -> b q h gs d", gs = 2 + g)}: for each kv head h the
     * rows of its g query heads, then its key head, then its value head, each d rows.
     */
    static Tensor packWqkv(Tensor q, Tensor k, Tensor v, long kvHeads, long group, long d, long in) {
        TensorVector rows = new TensorVector();
        for (long kvh = 0; kvh < kvHeads; kvh++) {
            for (long j = 0; j < group; j++) rows.push_back(q.narrow(0, (kvh * group + j) * d, d));
            rows.push_back(k.narrow(0, kvh * d, d));
            rows.push_back(v.narrow(0, kvh * d, d));
        }
        return torch.cat(rows, 0);
    }
}
