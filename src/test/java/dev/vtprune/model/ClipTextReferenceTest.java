package dev.vtprune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vtprune.io.Safetensors;
import dev.vtprune.io.SafetensorsCheckpoint;
import dev.vtprune.internal.Tensors;
import dev.vtprune.testing.Approx;
import dev.vtprune.testing.Python;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLIP text tower against the PyTorch reference (tools/reference/clip_text_reference.py,
 * float64), through the real file path: a model.safetensors under HF keys and a CLIPModel
 * config.json, read by {@link ClipTextModel.Config#fromHuggingFace} and {@link SafetensorsCheckpoint}.
 * Also checks that the EOS row of the per-token features is HF's pooled {@code text_embeds}.
 */
class ClipTextReferenceTest {
    static final String SCRIPT = "tools/reference/clip_text_reference.py";

    @TempDir
    Path dir;

    @Test
    void matchesThePyTorchReference() throws Exception {
        assumeTrue(Python.canImport("torch"), "PyTorch reference skipped: /usr/bin/python3 cannot import torch "
                + "(apt-get install -y --no-install-recommends python3-torch)");
        ClipTextModel.Config c = ClipTextModelTest.TINY;
        Map<String, Tensor> ck = ClipTextModelTest.hfCheckpoint(c, 300);
        Safetensors.write(dir.resolve("model.safetensors"), ck);
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"CLIPModel\"], \"projection_dim\": "
                + c.projection() + ", \"text_config\": {\"hidden_size\": " + c.hidden() + ", \"intermediate_size\": "
                + c.intermediate() + ", \"num_attention_heads\": " + c.heads() + ", \"num_hidden_layers\": " + c.layers()
                + ", \"max_position_embeddings\": " + c.maxPositions() + ", \"vocab_size\": " + c.vocab()
                + ", \"eos_token_id\": " + (c.vocab() - 1) + ", \"hidden_act\": \"quick_gelu\"}}", StandardCharsets.UTF_8);
        assertEquals(c, ClipTextModel.Config.fromHuggingFace(dir.resolve("config.json")));
        long[] ids = {59, 3, 41, 7, 7, 60, 0};  // start, text, end, then a token after the end
        Path out = dir.resolve("ref.safetensors");
        Python.Result r = Python.run(300, SCRIPT, "--model-dir", dir.toString(), "--ids",
                Arrays.stream(ids).mapToObj(Long::toString).collect(Collectors.joining(",")), "--out", out.toString());
        assertEquals(0, r.code(), r.output());
        try (SafetensorsCheckpoint src = SafetensorsCheckpoint.open(dir);
             ClipTextModel m = ClipTextModel.load(c, src, ScalarType.Float);
             ClipTextModel.Output o = m.forward(ids);
             SafetensorsCheckpoint ref = SafetensorsCheckpoint.open(out)) {
            double[] features = Tensors.toDoubles(o.features());
            Approx.assertClose(Tensors.toDoubles(ref.load("last_hidden_state")), Tensors.toDoubles(o.hidden()), 1e-5, 1e-5,
                    "last_hidden_state");
            Approx.assertClose(Tensors.toDoubles(ref.load("features")), features, 1e-5, 1e-5, "features");
            int p = c.projection(), eos = 5;
            Approx.assertClose(Tensors.toDoubles(ref.load("text_embeds")), Arrays.copyOfRange(features, eos * p, (eos + 1) * p),
                    1e-5, 1e-5, "text_embeds = the EOS row");
        }
    }
}
