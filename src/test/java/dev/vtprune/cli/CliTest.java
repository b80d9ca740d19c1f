package dev.vtprune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.io.Safetensors;
import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import dev.vtprune.testing.Data;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
        JsonObject json() {
            return JsonParser.parseString(out).getAsJsonObject();
        }
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static long[] longs(JsonArray a) {
        long[] v = new long[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsLong();
        return v;
    }

    static double[] doubles(JsonArray a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsDouble();
        return v;
    }

    /** One image of T local tiles, 8x8 patches merged 2x2 (16 tokens per tile), 2 system tokens, 3 queries. */
    static final int GRID = 8, MERGE = 2, TOKENS = 16, HQ = 4, HKV = 2, D = 8, Q = 3;

    Map<String, Tensor> ptpTensors(int local, long seed, boolean qk) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("tile_cls", Data.randn(seed, "float32", local, 12));
        m.put("global_cls", Data.randn(seed + 1, "float32", 12));
        m.put("vit_attn", Data.softmaxRows(seed + 2, "float32", 2.0, local + 1, 3, GRID * GRID));
        long n = (long) (local + 1) * TOKENS, keys = 2 + n + Q;
        long[] visual = new long[(int) n], queries = new long[Q];
        for (int i = 0; i < n; i++) visual[i] = 2 + i;
        for (int i = 0; i < Q; i++) queries[i] = 2 + n + i;
        Tensor q = Data.randn(seed + 3, "float32", HQ, Q, D), k = Data.randn(seed + 4, "float32", HKV, keys, D);
        if (qk) {
            m.put("llm_q", q);
            m.put("llm_k", k);
            m.put("query_pos", Tensor.create(queries));
            m.put("visual_pos", Tensor.create(visual));
        } else {
            Tensor kx = k.repeat_interleave(HQ / HKV, new org.bytedeco.pytorch.LongOptional(0), new org.bytedeco.pytorch.LongOptional());
            Tensor causal = torch.arange(new Scalar(keys)).unsqueeze(0).gt(Tensor.create(queries).unsqueeze(1));
            m.put("llm_attn", q.matmul(kx.transpose(1, 2)).div(new Scalar(Math.sqrt(D)))
                    .masked_fill(causal, new Scalar(Double.NEGATIVE_INFINITY)).softmax(2)
                    .index_select(2, Tensor.create(visual)).contiguous());
        }
        return m;
    }

    Path write(String name, Map<String, Tensor> tensors) {
        Path p = dir.resolve(name);
        Safetensors.write(p, tensors);
        return p;
    }

    @Test
    void pruneMatchesTheJavaApiAndTheContract() {
        Map<String, Tensor> t = ptpTensors(4, 401, false);
        Run r = run("prune", "--input", write("ptp.safetensors", t).toString(), "--method", "ptp", "--ratio", "0.5",
                "--patch-merge", "2");
        assertEquals(0, r.code(), r.err());
        JsonObject j = r.json();
        assertEquals(List.of("kept", "budgets", "region_scores", "region_weights"), List.copyOf(j.keySet()));
        try (TileLayout layout = TileLayout.of(new int[] {4}, TOKENS)) {
            Tensor cls = torch.cat(new org.bytedeco.pytorch.TensorVector(t.get("tile_cls"), t.get("global_cls").unsqueeze(0)));
            try (Selection s = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER).select(PruneInputs.builder(layout)
                    .tileCls(cls).vitAttention(t.get("vit_attn"), false).patchMerge(2).lmAttention(List.of(t.get("llm_attn")))
                    .build())) {
                assertArrayEquals(s.keptIndices(), longs(j.getAsJsonArray("kept")));
                assertArrayEquals(Tensors.toLongs(s.budgets()), longs(j.getAsJsonArray("budgets")));
                double[] scores = Tensors.toDoubles(s.regionScores());
                assertArrayEquals(java.util.Arrays.copyOf(scores, 4), doubles(j.getAsJsonArray("region_scores")), 1e-6);
            }
        }
        assertEquals(5, j.getAsJsonArray("budgets").size(), "one budget per tile, thumbnail last");
        assertEquals(4, j.getAsJsonArray("region_weights").size(), "one weight per local tile");
        long sum = 0;
        for (long b : longs(j.getAsJsonArray("budgets"))) sum += b;
        assertEquals(sum, j.getAsJsonArray("kept").size());
        assertEquals(40, sum, "half of the 80 tokens");
    }

    @Test
    void qkInputsGiveTheSameSelectionAsAttentionInputs() {
        Map<String, Tensor> viaQk = ptpTensors(3, 411, true), viaAttn = ptpTensors(3, 411, false);
        Run a = run("prune", "--input", write("qk.safetensors", viaQk).toString(), "--patch-merge", "2");
        Run b = run("prune", "--input", write("attn.safetensors", viaAttn).toString(), "--patch-merge", "2");
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        assertArrayEquals(longs(b.json().getAsJsonArray("kept")), longs(a.json().getAsJsonArray("kept")));
    }

    @Test
    void unpartitionedImageAndBaselines() {
        Map<String, Tensor> t = ptpTensors(0, 421, false);
        t.remove("tile_cls");
        Path f = write("single.safetensors", t);
        Run ptp = run("prune", "--input", f.toString(), "--patch-merge", "2", "--ratio", "0.75");
        assertEquals(0, ptp.code(), ptp.err());
        assertArrayEquals(new long[] {4}, longs(ptp.json().getAsJsonArray("budgets")));
        assertEquals(0, ptp.json().getAsJsonArray("region_scores").size());
        for (String method : new String[] {"cls-topk", "random", "spatial"}) {
            Run r = run("prune", "--input", f.toString(), "--patch-merge", "2", "--method", method, "--ratio", "0.75");
            assertEquals(0, r.code(), method + ": " + r.err());
            assertEquals(4, r.json().getAsJsonArray("kept").size(), method);
        }
        Run s1 = run("prune", "--input", f.toString(), "--patch-merge", "2", "--method", "random", "--seed", "5");
        Run s2 = run("prune", "--input", f.toString(), "--patch-merge", "2", "--method", "random", "--seed", "5");
        assertEquals(s1.out(), s2.out(), "random is seeded");
    }

    @Test
    void rolloutMatchesTheJavaApi() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (int l = 0; l < 3; l++) t.put("attn_" + l, Data.softmaxRows(431 + l, "float32", 2.0, 4, 17, 17));
        t.put("values", Data.randn(439, "float32", 17, 6));
        Path f = write("rollout.safetensors", t);
        for (String mode : new String[] {"ivtp", "abnar"}) {
            Run r = run("rollout", "--input", f.toString(), "--mode", mode);
            assertEquals(0, r.code(), r.err());
            try (Rollout.Result want = Rollout.clsRow(List.of(t.get("attn_0"), t.get("attn_1"), t.get("attn_2")),
                    mode.equals("ivtp") ? Rollout.Mode.IVTP : Rollout.Mode.ABNAR, t.get("values"))) {
                double[] row = Tensors.toDoubles(want.clsRow());
                assertArrayEquals(java.util.Arrays.copyOfRange(row, 1, 17), doubles(r.json().getAsJsonArray("cls_row")), 1e-7);
                assertArrayEquals(Tensors.toDoubles(want.importance()), doubles(r.json().getAsJsonArray("importance")), 1e-7);
            }
        }
    }

    @Test
    void flopsReproducesIvtp() {
        double[] want = {9.9, 11.7, 15.4, 22.9};
        int[] text = {128, 256, 512, 1024};
        for (int i = 0; i < text.length; i++) {
            Run r = run("flops", "--model", "llava-1.5-7b", "--text-tokens", Integer.toString(text[i]));
            assertEquals(0, r.code(), r.err());
            assertEquals(want[i], r.json().get("total_tflops").getAsDouble(), 0.01 * want[i]);
            assertEquals(576, r.json().get("visual_tokens").getAsLong());
        }
        Run pruned = run("flops", "--model", "internvl2-2b", "--text-tokens", "64", "--keep", "1664", "--probe-layers", "2");
        assertEquals(0, pruned.code(), pruned.err());
        assertTrue(pruned.json().get("total_tflops").getAsDouble() < run("flops", "--model", "internvl2-2b", "--text-tokens",
                "64").json().get("total_tflops").getAsDouble());
    }

    /** Bad input: exit code 2, exactly one line on stderr that says what is wrong, no stack trace. */
    static void assertOneLineError(Run r, String fragment) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        assertEquals("", r.out(), "nothing on stdout");
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line on stderr: " + r.err());
        assertTrue(lines[0].contains(fragment), "'" + lines[0] + "' should contain '" + fragment + "'");
        assertFalse(r.err().contains("\tat "), "no stack trace");
    }

    @Test
    void everyErrorPathIsOneClearLine() {
        Map<String, Tensor> good = ptpTensors(2, 441, false);
        Path ok = write("ok.safetensors", good);
        assertOneLineError(run("prune", "--input", dir.resolve("nope.safetensors").toString()), "does not exist");
        assertOneLineError(run("prune"), "Missing required option: '--input");
        assertOneLineError(run("prune", "--input", ok.toString(), "--patch-merge", "2", "--ratio", "1.0"),
                "argument '--ratio' must be in [0, 1), got 1.0");
        assertOneLineError(run("prune", "--input", ok.toString(), "--patch-merge", "2", "--ratio", "-0.1"),
                "argument '--ratio' must be in [0, 1), got -0.1");
        assertOneLineError(run("prune", "--input", ok.toString(), "--patch-merge", "2", "--method", "best"),
                "argument '--method' must be one of");
        assertOneLineError(run("prune", "--input", ok.toString(), "--patch-merge", "3"), "'--patch-merge' (3) must divide");
        assertOneLineError(run("prune", "--input", ok.toString()), "tensor 'llm_attn'");  // wrong merge -> N mismatch
        Path text = dir.resolve("text.safetensors");
        try {
            java.nio.file.Files.writeString(text, "not a safetensors file");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertOneLineError(run("prune", "--input", text.toString()), text.toString());

        Map<String, Tensor> missing = new LinkedHashMap<>(good);
        missing.remove("vit_attn");
        assertOneLineError(run("prune", "--input", write("missing.safetensors", missing).toString(), "--patch-merge", "2"),
                "tensor 'vit_attn' is missing from");
        Map<String, Tensor> rank = new LinkedHashMap<>(good);
        rank.put("vit_attn", torch.rand(3, 64));
        assertOneLineError(run("prune", "--input", write("rank.safetensors", rank).toString(), "--patch-merge", "2"),
                "tensor 'vit_attn' in " + dir.resolve("rank.safetensors") + " must have rank 3");
        Map<String, Tensor> dtype = new LinkedHashMap<>(good);
        dtype.put("global_cls", Tensor.create(new long[12], 12));
        assertOneLineError(run("prune", "--input", write("dtype.safetensors", dtype).toString(), "--patch-merge", "2"),
                "tensor 'global_cls' in " + dir.resolve("dtype.safetensors") + " must be float32, float16 or bfloat16, got int64[12]");
        Map<String, Tensor> nan = new LinkedHashMap<>(good);
        Tensor bad = good.get("vit_attn").clone();
        bad.select(0, 1).select(0, 0).select(0, 5).fill_(new Scalar(Double.NaN));
        nan.put("vit_attn", bad);
        assertOneLineError(run("prune", "--input", write("nan.safetensors", nan).toString(), "--patch-merge", "2"),
                "tensor 'vit_attn' in " + dir.resolve("nan.safetensors") + " must hold finite values only");
        Map<String, Tensor> shape = new LinkedHashMap<>(good);
        shape.put("tile_cls", torch.randn(3, 12));
        assertOneLineError(run("prune", "--input", write("shape.safetensors", shape).toString(), "--patch-merge", "2"),
                "tensor 'tile_cls' in " + dir.resolve("shape.safetensors") + " must be [2, 12]");
        assertOneLineError(run("rollout", "--input", ok.toString()), "tensor 'attn_0' is missing");
        assertOneLineError(run("flops", "--model", "gpt-9", "--text-tokens", "5"), "unknown model preset 'gpt-9'");
        assertOneLineError(run("flops", "--model", "llava-1.5-7b", "--text-tokens", "5", "--keep", "9999"),
                "argument '--keep' must be in [0, 576], got 9999");
    }

    /**
     * A task checkpoint (a 2-step `train` of the tiny preset) without --image: the demo asks the
     * bundled task image's question, names the object and the expected answer, answers in one
     * token, and outlines the object on the overlay. Without any model flag and no trained model
     * at the default place, the error names --model-dir and the way out.
     */
    @Test
    void demoOnATaskCheckpointAsksTheBundledQuestion() throws Exception {
        Path model = dir.resolve("task-model");
        new dev.vtprune.train.Trainer(dev.vtprune.model.ModelConfig.preset("tiny"), new java.io.PrintWriter(new java.io.StringWriter()))
                .train(new dev.vtprune.train.Trainer.Options(3, 0, 2, 2, 1, 1e-3, 1, 0, 10, 0), model);
        Path out = dir.resolve("task-out");
        Run r = run("demo", "--model-dir", model.toString(), "--repeat", "1", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        dev.vtprune.task.VqaTask.Sample s = dev.vtprune.task.VqaTask.demoSample();
        dev.vtprune.task.Question q = s.questions().get(0);
        assertTrue(r.out().contains("prompt: \"" + q.text() + "\""), r.out());
        assertTrue(r.out().contains("question about: " + q.about().get(0).words()) && r.out().contains("expected answer: " + q.answer()), r.out());
        assertTrue(r.out().matches("(?s).*tokens showing it kept by the pruned run: \\d+ of [1-9]\\d*.*"), r.out());
        assertTrue(r.out().contains("at most 1 new tokens") && r.out().contains("outlined in cyan"), r.out());
        java.awt.image.BufferedImage overlay = javax.imageio.ImageIO.read(out.resolve("overlay.png").toFile());
        dev.vtprune.task.SceneObject o = q.about().get(0);
        int x = dev.vtprune.pipeline.image.Overlay.MARGIN + o.cx() - o.radius() - 1, y = dev.vtprune.pipeline.image.Overlay.MARGIN + o.cy();
        assertEquals(dev.vtprune.pipeline.image.Overlay.MARK_RGB, overlay.getRGB(x, y) & 0xFFFFFF, "outline at the object's left edge");

        // IVTP's both stages on the task checkpoint: its LM stage reads the checkpoint's own CLIP tower.
        Run ivtp = run("demo", "--model-dir", model.toString(), "--method", "ivtp", "--repeat", "1", "--out", out.toString());
        assertEquals(0, ivtp.code(), ivtp.err());
        assertTrue(ivtp.out().contains("question about: ") && ivtp.out().contains("prompt word relevance"), ivtp.out());

        String before = System.getProperty("vtprune.home");
        System.setProperty("vtprune.home", dir.resolve("no-project").toString());
        try {
            assertOneLineError(run("demo", "--repeat", "1"), "argument '--model-dir': the trained task model is not at");
        } finally {
            if (before == null) System.clearProperty("vtprune.home");
            else System.setProperty("vtprune.home", before);
        }
    }

    @Test
    void demoRunsOnATinyPresetAndWritesTheOverlay() throws Exception {
        java.awt.image.BufferedImage im = new java.awt.image.BufferedImage(112, 56, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = im.createGraphics();
        g.setColor(java.awt.Color.RED);
        g.fillOval(10, 10, 40, 30);
        g.dispose();
        Path png = dir.resolve("in.png");
        javax.imageio.ImageIO.write(im, "png", png.toFile());
        Path out = dir.resolve("out");
        Run r = run("demo", "--model", "tiny", "--image", png.toString(), "--repeat", "1", "--out", out.toString(),
                "--dump", dir.resolve("dump.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("visual tokens"), r.out());
        assertTrue(r.out().contains("structure of the computation"), "random weights are called structural: " + r.out());
        assertTrue(r.out().contains("answer (greedy, at most 8 new tokens"), r.out());
        assertTrue(r.out().matches("(?s).*  unpruned: \".*\" \\(\\d+ tokens, .*\n  pruned:   \".*"), r.out());
        assertTrue(r.out().contains("decode tokens/s"), r.out());
        java.awt.image.BufferedImage overlay = javax.imageio.ImageIO.read(out.resolve("overlay.png").toFile());
        assertEquals(dev.vtprune.pipeline.image.Overlay.defaults().size(
                dev.vtprune.pipeline.image.DynamicTiler.internVl(56, 1, 4, true)
                        .tile(im))[0], overlay.getWidth());
        // the dump is a valid `prune` input that reproduces the demo's selection
        Run again = run("prune", "--input", dir.resolve("dump.safetensors").toString(), "--patch-merge", "2");
        assertEquals(0, again.code(), again.err());
        assertEquals(6, again.json().getAsJsonArray("kept").size(), "half of (2 + thumbnail) x 4 tokens");
        assertOneLineError(run("demo", "--model", "tiny", "--image", dir.resolve("none.png").toString()), "none.png");
        assertOneLineError(run("demo", "--model", "tiny", "--ratio", "2"), "argument '--ratio' must be in [0, 1)");
        assertOneLineError(run("demo", "--model", "tiny", "--top-p", "0"), "argument '--top-p' must be in (0, 1], got 0.0");
        assertOneLineError(run("demo", "--model", "tiny", "--temperature", "-1"), "argument '--temperature' must be finite and >= 0");
        assertOneLineError(run("demo", "--model", "tiny", "--max-new-tokens", "0"), "argument '--max-new-tokens' must be >= 1, got 0");
        assertOneLineError(run("demo", "--model", "tiny", "--max-new-tokens", "2048"), "argument '--max-new-tokens' must be < the model's context");
        assertOneLineError(run("demo", "--model", "tiny", "--stop", "-3"), "argument '--stop' must hold token ids >= 0");
    }

    /** Sampling flags reach the generation: a seeded sampled demo prints the same answers twice. */
    @Test
    void demoSamplesReproduciblyPerSeed() throws Exception {
        String[] args = {"demo", "--model", "tiny", "--repeat", "1", "--out", dir.resolve("s").toString(), "--max-new-tokens", "5",
                "--temperature", "1.3", "--top-p", "0.9", "--sample-seed", "7"};
        Run a = run(args), b = run(args);
        assertEquals(0, a.code(), a.err());
        java.util.function.Function<String, String> answers = out -> out.lines().filter(l -> l.startsWith("  unpruned: \"")
                || l.startsWith("  pruned:   \"")).collect(java.util.stream.Collectors.joining("\n"));
        assertTrue(a.out().contains("sampled, temperature 1.3, top-p 0.9, seed 7"), a.out());
        assertEquals(2, answers.apply(a.out()).lines().count(), a.out());
        assertEquals(answers.apply(a.out()), answers.apply(b.out()));
    }

    @Test
    void verboseAddsTheStackTrace() {
        Run r = run("prune", "--verbose", "--input", dir.resolve("nope.safetensors").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat "), r.err());
    }
}
