package dev.vtprune.model;

import dev.vtprune.internal.Tensors;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * Naive float64 Java versions of the model's computations, written from the HF reference
 * modules and reading the HF-named checkpoint tensors directly, to check the LibTorch modules.
 * Matrices are row-major double[] with explicit sizes; one sequence or tile at a time.
 */
final class Oracle64 {
    private Oracle64() {}

    static double[] d(Tensor t) {
        return Tensors.toDoubles(t);
    }

    /** y[n, out] = x[n, in] W[out, in]^T + b. */
    static double[] linear(double[] x, int n, int in, double[] w, double[] b, int out) {
        double[] y = new double[n * out];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int j = 0; j < in; j++) s += x[i * in + j] * w[o * in + j];
                y[i * out + o] = s;
            }
        }
        return y;
    }

    /** The HF module `module` (module.weight, module.bias) of a checkpoint as a Linear. */
    static double[] linear(Map<String, Tensor> ck, String module, boolean bias, double[] x, int n, int in, int out) {
        return linear(x, n, in, d(ck.get(module + ".weight")), bias ? d(ck.get(module + ".bias")) : null, out);
    }

    static double[] layerNorm(Map<String, Tensor> ck, String module, double[] x, int n, int h, double eps) {
        return layerNorm(x, n, h, d(ck.get(module + ".weight")), d(ck.get(module + ".bias")), eps);
    }

    static double[] layerNorm(double[] x, int n, int h, double[] w, double[] b, double eps) {
        double[] y = new double[n * h];
        for (int i = 0; i < n; i++) {
            double mean = 0, var = 0;
            for (int j = 0; j < h; j++) mean += x[i * h + j];
            mean /= h;
            for (int j = 0; j < h; j++) var += (x[i * h + j] - mean) * (x[i * h + j] - mean);
            var /= h;
            for (int j = 0; j < h; j++) y[i * h + j] = (x[i * h + j] - mean) / Math.sqrt(var + eps) * w[j] + b[j];
        }
        return y;
    }

    static double[] rmsNorm(double[] x, int n, int h, double[] w, double eps) {
        double[] y = new double[n * h];
        for (int i = 0; i < n; i++) {
            double ms = 0;
            for (int j = 0; j < h; j++) ms += x[i * h + j] * x[i * h + j];
            ms /= h;
            for (int j = 0; j < h; j++) y[i * h + j] = x[i * h + j] / Math.sqrt(ms + eps) * w[j];
        }
        return y;
    }

    /** erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), enough for 1e-5 comparisons. */
    static double erf(double x) {
        double t = 1 / (1 + 0.3275911 * Math.abs(x));
        double y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
                * Math.exp(-x * x);
        return x >= 0 ? y : -y;
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double quickGelu(double x) {
        return x / (1 + Math.exp(-1.702 * x));
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    static double[] add(double[] a, double[] b) {
        double[] y = a.clone();
        for (int i = 0; i < y.length; i++) y[i] += b[i];
        return y;
    }

    /** x[n, h] scaled per channel. */
    static double[] scale(double[] x, double[] s) {
        double[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i] *= s[i % s.length];
        return y;
    }

    /**
     * Softmax attention probabilities [heads, n, n] from q [n, heads*d] and k [n, kvHeads*d]
     * (query head h reads kv head h / (heads/kvHeads)), scale 1/sqrt(d), optionally causal.
     */
    static double[] probs(double[] q, double[] k, int n, int heads, int kvHeads, int d, boolean causal) {
        boolean[] visible = new boolean[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) visible[i * n + j] = !causal || j <= i;
        return probs(q, k, n, heads, kvHeads, d, visible);
    }

    /** As above with key j visible to query i iff visible[i * n + j] (each row sees at least one key). */
    static double[] probs(double[] q, double[] k, int n, int heads, int kvHeads, int d, boolean[] visible) {
        double[] p = new double[heads * n * n];
        int group = heads / kvHeads;
        for (int h = 0; h < heads; h++) {
            int kh = h / group;
            for (int i = 0; i < n; i++) {
                double max = Double.NEGATIVE_INFINITY;
                double[] s = new double[n];
                for (int j = 0; j < n; j++) {
                    if (!visible[i * n + j]) continue;
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[i * heads * d + h * d + e] * k[j * kvHeads * d + kh * d + e];
                    s[j] = dot / Math.sqrt(d);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    if (!visible[i * n + j]) continue;
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < n; j++) p[(h * n + i) * n + j] = visible[i * n + j] ? s[j] / sum : 0;
            }
        }
        return p;
    }

    /** Attention output [n, heads*d] from probabilities and v [n, kvHeads*d]. */
    static double[] attend(double[] p, double[] v, int n, int heads, int kvHeads, int d) {
        double[] out = new double[n * heads * d];
        int group = heads / kvHeads;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    double w = p[(h * n + i) * n + j];
                    int from = j * kvHeads * d + (h / group) * d, to = i * heads * d + h * d;
                    for (int e = 0; e < d; e++) out[to + e] += w * v[from + e];
                }
            }
        }
        return out;
    }

    /** HF rotate_half RoPE on x [n, heads*d] at positions pos[i], in float64 throughout. */
    static double[] rope(double[] x, int n, int heads, int d, long[] pos, double theta) {
        double[] y = new double[x.length];
        int half = d / 2;
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < heads; h++) {
                int base = i * heads * d + h * d;
                for (int e = 0; e < d; e++) {
                    double angle = pos[i] * Math.pow(theta, -2.0 * (e % half) / d);
                    double rotated = e < half ? -x[base + e + half] : x[base + e - half];
                    y[base + e] = x[base + e] * Math.cos(angle) + rotated * Math.sin(angle);
                }
            }
        }
        return y;
    }

    // ----------------------------------------------------------------------------- ViT

    /** A ViT on one tile: states [1 + P, h] after the last layer, and the CLS rows [heads, 1 + P] of `probe`. */
    record VitResult(double[] states, double[] clsRows) {}

    /**
     * @param ck     HF-named checkpoint; p the vision prefix ("vision_model." or "vision_tower.vision_model.")
     * @param pixels [3, S, S] of one tile
     */
    static VitResult vit(ModelConfig c, Map<String, Tensor> ck, String p, double[] pixels, int probe) {
        ModelConfig.Vision v = c.vision();
        int n = 1 + v.patches(), heads = v.heads();
        double[] x = vitEmbed(c, ck, p, pixels);
        double[] clsRows = null;
        for (int i = 0; i < v.layers(); i++) {
            VitLayer out = vitLayer(c, ck, p, i, x, n);
            if (i == probe) {
                clsRows = new double[heads * n];
                for (int hh = 0; hh < heads; hh++) System.arraycopy(out.probs(), hh * n * n, clsRows, hh * n, n);
            }
            x = out.states();
        }
        return new VitResult(x, clsRows);
    }

    /** Patch embedding, CLS, positions and CLIP's pre-norm of one tile: [1 + P, h]. */
    static double[] vitEmbed(ModelConfig c, Map<String, Tensor> ck, String p, double[] pixels) {
        ModelConfig.Vision v = c.vision();
        boolean clip = c.family() == ModelConfig.Family.LLAVA;
        int h = v.hidden(), ps = v.patchSize(), g = v.grid(), n = 1 + v.patches(), size = v.imageSize();
        double[] conv = d(ck.get(p + "embeddings.patch_embedding.weight"));
        double[] convB = clip ? null : d(ck.get(p + "embeddings.patch_embedding.bias"));
        double[] cls = d(ck.get(p + "embeddings.class_embedding"));
        double[] pos = d(ck.get(p + (clip ? "embeddings.position_embedding.weight" : "embeddings.position_embedding")));
        double[] x = new double[n * h];
        for (int j = 0; j < h; j++) x[j] = cls[j] + pos[j];
        for (int r = 0; r < g; r++) {
            for (int col = 0; col < g; col++) {
                int t = 1 + r * g + col;
                for (int o = 0; o < h; o++) {
                    double s = convB == null ? 0 : convB[o];
                    for (int ch = 0; ch < 3; ch++) {
                        for (int y = 0; y < ps; y++) {
                            for (int xx = 0; xx < ps; xx++) {
                                double pixel = pixels[(ch * size + r * ps + y) * size + col * ps + xx];
                                s += conv[((o * 3 + ch) * ps + y) * ps + xx] * pixel;
                            }
                        }
                    }
                    x[t * h + o] = s + pos[t * h + o];
                }
            }
        }
        return clip ? layerNorm(ck, p + "pre_layrnorm", x, n, h, 1e-5) : x;
    }

    /** One ViT layer's output states [n, h], attention probabilities [heads, n, n] and values [n, h]. */
    record VitLayer(double[] states, double[] probs, double[] values) {}

    /** ViT layer i on x [n, h] (any n: the layer does not care which tokens these are). */
    static VitLayer vitLayer(ModelConfig c, Map<String, Tensor> ck, String p, int i, double[] x, int n) {
        ModelConfig.Vision v = c.vision();
        boolean clip = c.family() == ModelConfig.Family.LLAVA;
        int h = v.hidden(), heads = v.heads(), hd = v.headDim();
        double eps = clip ? 1e-5 : 1e-6;
        String l = p + "encoder.layers." + i + ".";
        double[] a = layerNorm(ck, l + (clip ? "layer_norm1" : "norm1"), x, n, h, eps);
        double[] q, k, vv;
        if (clip) {
            q = linear(ck, l + "self_attn.q_proj", true, a, n, h, h);
            k = linear(ck, l + "self_attn.k_proj", true, a, n, h, h);
            vv = linear(ck, l + "self_attn.v_proj", true, a, n, h, h);
        } else {
            double[] qkv = linear(ck, l + "attn.qkv", true, a, n, h, 3 * h);
            q = new double[n * h];
            k = new double[n * h];
            vv = new double[n * h];
            for (int t = 0; t < n; t++) {
                System.arraycopy(qkv, t * 3 * h, q, t * h, h);
                System.arraycopy(qkv, t * 3 * h + h, k, t * h, h);
                System.arraycopy(qkv, t * 3 * h + 2 * h, vv, t * h, h);
            }
        }
        double[] pr = probs(q, k, n, heads, heads, hd, false);
        double[] o = linear(ck, l + (clip ? "self_attn.out_proj" : "attn.proj"), true,
                attend(pr, vv, n, heads, heads, hd), n, h, h);
        double[] y = add(x, clip ? o : scale(o, d(ck.get(l + "ls1"))));
        double[] m = layerNorm(ck, l + (clip ? "layer_norm2" : "norm2"), y, n, h, eps);
        m = linear(ck, l + "mlp.fc1", true, m, n, h, v.mlp());
        for (int j = 0; j < m.length; j++) m[j] = clip ? quickGelu(m[j]) : gelu(m[j]);
        m = linear(ck, l + "mlp.fc2", true, m, n, v.mlp(), h);
        return new VitLayer(add(y, clip ? m : scale(m, d(ck.get(l + "ls2")))), pr, vv);
    }

    // ----------------------------------------------------------------------------- decoder layer

    /** One Llama/Qwen2 decoder layer (HF names under prefix l) on x [n, hidden], positions 0..n-1. */
    record LayerResult(double[] out, double[] probs, double[] v) {}

    static LayerResult decoderLayer(ModelConfig c, Map<String, Tensor> ck, String l, double[] x, int n) {
        long[] pos = new long[n];
        for (int i = 0; i < n; i++) pos[i] = i;
        return decoderLayer(c, ck, l, x, n, pos, null);
    }

    /**
     * The layer at RoPE positions pos with key j visible to query i iff visible[i * n + j] (null:
     * causal); v [n, kvHeads * d] are the layer's values.
     */
    static LayerResult decoderLayer(ModelConfig c, Map<String, Tensor> ck, String l, double[] x, int n, long[] pos,
                                    boolean[] visible) {
        ModelConfig.Language lc = c.language();
        int h = lc.hidden(), hq = lc.heads(), hkv = lc.kvHeads(), d = lc.headDim(), m = lc.intermediate();
        double[] a = rmsNorm(x, n, h, d(ck.get(l + "input_layernorm.weight")), lc.rmsEps());
        String s = l + "self_attn.";
        double[] q = linear(ck, s + "q_proj", lc.qkvBias(), a, n, h, hq * d);
        double[] k = linear(ck, s + "k_proj", lc.qkvBias(), a, n, h, hkv * d);
        double[] v = linear(ck, s + "v_proj", lc.qkvBias(), a, n, h, hkv * d);
        q = rope(q, n, hq, d, pos, lc.ropeTheta());
        k = rope(k, n, hkv, d, pos, lc.ropeTheta());
        double[] p = visible == null ? probs(q, k, n, hq, hkv, d, true) : probs(q, k, n, hq, hkv, d, visible);
        double[] hs = add(x, linear(ck, s + "o_proj", false, attend(p, v, n, hq, hkv, d), n, hq * d, h));
        double[] b = rmsNorm(hs, n, h, d(ck.get(l + "post_attention_layernorm.weight")), lc.rmsEps());
        double[] gate = linear(ck, l + "mlp.gate_proj", false, b, n, h, m);
        double[] up = linear(ck, l + "mlp.up_proj", false, b, n, h, m);
        for (int i = 0; i < gate.length; i++) gate[i] = silu(gate[i]) * up[i];
        return new LayerResult(add(hs, linear(ck, l + "mlp.down_proj", false, gate, n, m, h)), p, v);
    }
}
