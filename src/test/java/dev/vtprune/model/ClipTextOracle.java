package dev.vtprune.model;

import static dev.vtprune.model.Oracle64.add;
import static dev.vtprune.model.Oracle64.attend;
import static dev.vtprune.model.Oracle64.d;
import static dev.vtprune.model.Oracle64.layerNorm;
import static dev.vtprune.model.Oracle64.linear;
import static dev.vtprune.model.Oracle64.probs;
import static dev.vtprune.model.Oracle64.quickGelu;

import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * HF CLIPTextModel + text_projection in float64, written from the HF module tree and reading
 * the HF-keyed tensors directly (independent of {@link ClipTextModel}'s specs and forward).
 */
final class ClipTextOracle {
    private ClipTextOracle() {}

    /** {hidden [n, h] after final_layer_norm, projected [n, p]}. */
    static double[][] forward(Map<String, Tensor> ck, long[] ids, int heads, double eps) {
        double[] tok = d(ck.get("text_model.embeddings.token_embedding.weight"));
        double[] pos = d(ck.get("text_model.embeddings.position_embedding.weight"));
        int h = (int) ck.get("text_model.final_layer_norm.weight").size(0), n = ids.length, hd = h / heads;
        double[] x = new double[n * h];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < h; j++) x[i * h + j] = tok[(int) ids[i] * h + j] + pos[i * h + j];
        }
        for (int i = 0; ck.containsKey("text_model.encoder.layers." + i + ".layer_norm1.weight"); i++) {
            String l = "text_model.encoder.layers." + i + ".";
            double[] a = layerNorm(ck, l + "layer_norm1", x, n, h, eps);
            double[] q = linear(ck, l + "self_attn.q_proj", true, a, n, h, h);
            double[] k = linear(ck, l + "self_attn.k_proj", true, a, n, h, h);
            double[] v = linear(ck, l + "self_attn.v_proj", true, a, n, h, h);
            double[] o = linear(ck, l + "self_attn.out_proj", true,
                    attend(probs(q, k, n, heads, heads, hd, true), v, n, heads, heads, hd), n, h, h);
            x = add(x, o);
            int m = (int) ck.get(l + "mlp.fc1.bias").size(0);
            double[] f = linear(ck, l + "mlp.fc1", true, layerNorm(ck, l + "layer_norm2", x, n, h, eps), n, h, m);
            for (int j = 0; j < f.length; j++) f[j] = quickGelu(f[j]);
            x = add(x, linear(ck, l + "mlp.fc2", true, f, n, m, h));
        }
        double[] hidden = layerNorm(ck, "text_model.final_layer_norm", x, n, h, eps);
        int p = (int) ck.get("text_projection.weight").size(0);
        return new double[][] {hidden, linear(hidden, n, h, d(ck.get("text_projection.weight")), null, p)};
    }
}
