package dev.vtprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.io.Safetensors;
import dev.vtprune.testing.Data;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile input replayed through the command line's entry point ({@link Main#run}): corrupt
 * files, extreme shapes and values, empty tensors, out-of-range flags, positions and images.
 * Every case must end with exit code 2 and one line on stderr that names the flag or tensor the
 * user gave (never an API parameter name, never a stack trace), and nothing on stdout.
 *
 * <p>Inputs are CliTest's small PTP file (4 local tiles of 8 x 8 patches merged 2 x 2: 80
 * visual tokens, 3 queries, 85 keys) with one thing broken. `demo` appears only with flags it
 * must reject before it builds a model.
 */
class BadInputReplayTest {
    @TempDir
    static Path dir;

    /** A case: a name, what the message must mention, and the arguments (built lazily, in the temp dir). */
    record Case(String name, String mentions, Supplier<String[]> args) {}

    static int files;

    /** CliTest's valid PTP input with `edit` applied (qk: llm_q/llm_k/positions instead of llm_attn). */
    static String ptp(boolean qk, Consumer<Map<String, Tensor>> edit) {
        Map<String, Tensor> m = new CliTest().ptpTensors(4, 900 + files, qk);
        edit.accept(m);
        Path p = dir.resolve("in" + files++ + ".safetensors");
        Safetensors.write(p, m);
        return p.toString();
    }

    /** A raw file: the 8-byte header length, then `header` (JSON), then `data` bytes. */
    static String raw(long headerLength, String header, int data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h);
        return write(b.array());
    }

    static String raw(String header, int data) {
        return raw(header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    static String write(byte[] bytes) {
        try {
            Path p = dir.resolve("raw" + files++ + ".bin");
            Files.write(p, bytes);
            return p.toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String rollout(Consumer<Map<String, Tensor>> edit) {
        Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        for (int l = 0; l < 2; l++) m.put("attn_" + l, Data.softmaxRows(700 + l, "float32", 2.0, 3, 17, 17));
        edit.accept(m);
        Path p = dir.resolve("rollout" + files++ + ".safetensors");
        Safetensors.write(p, m);
        return p.toString();
    }

    static Supplier<String[]> prune(Supplier<String> file, String... flags) {
        return () -> {
            List<String> a = new ArrayList<>(List.of("prune", "--input", file.get(), "--patch-merge", "2"));
            a.addAll(List.of(flags));
            return a.toArray(String[]::new);
        };
    }

    static Supplier<String[]> valid(String... flags) {
        return prune(() -> ptp(false, m -> {}), flags);
    }

    static Supplier<String[]> cmd(String... args) {
        return () -> args;
    }

    static Case c(String name, String mentions, Supplier<String[]> args) {
        return new Case(name, mentions, args);
    }

    static Tensor fill(Tensor like, double value) {
        return like.clone().fill_(new Scalar(value));
    }

    static final String F32 = "{\"t\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";

    static List<Case> cases() {
        String nan = "nan";
        return List.of(
                // --- files
                c("missing file", "--input", cmd("prune", "--input", "/nonexistent/x.safetensors")),
                c("directory as input", "--input", () -> new String[] {"prune", "--input", dir.toString()}),
                c("empty file", "--input", () -> new String[] {"prune", "--input", write(new byte[0])}),
                c("4-byte file", "--input", () -> new String[] {"prune", "--input", write(new byte[4])}),
                c("header length past the file", "--input", () -> new String[] {"prune", "--input", raw(1000, "{}", 0)}),
                c("header length 2^62", "--input", () -> new String[] {"prune", "--input", raw(1L << 62, "{}", 0)}),
                c("negative header length", "--input", () -> new String[] {"prune", "--input", raw(-5, "{}", 0)}),
                c("header not JSON", "--input", () -> new String[] {"prune", "--input", raw("not json at all", 0)}),
                c("header a JSON array", "--input", () -> new String[] {"prune", "--input", raw("[1, 2, 3]", 0)}),
                c("unknown dtype", "--input", () -> new String[] {"prune", "--input",
                        raw("{\"t\": {\"dtype\": \"F99\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8)}),
                c("negative dimension", "--input", () -> new String[] {"prune", "--input",
                        raw("{\"t\": {\"dtype\": \"F32\", \"shape\": [-2, 2], \"data_offsets\": [0, 16]}}", 16)}),
                c("shape disagrees with offsets", "--input", () -> new String[] {"prune", "--input",
                        raw("{\"t\": {\"dtype\": \"F32\", \"shape\": [3, 3], \"data_offsets\": [0, 16]}}", 16)}),
                c("data section truncated", "--input", () -> new String[] {"prune", "--input", raw(F32, 8)}),
                c("offsets overlapping", "--input", () -> new String[] {"prune", "--input",
                        raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                                + "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12)}),
                c("a valid file without vit_attn", "vit_attn", () -> new String[] {"prune", "--input", raw(F32, 16)}),
                // --- flags
                c("--ratio 1", "--ratio", valid("--ratio", "1")),
                c("--ratio -0.1", "--ratio", valid("--ratio", "-0.1")),
                c("--ratio NaN", "--ratio", valid("--ratio", "NaN")),
                c("--ratio leaving no token", "--ratio", valid("--ratio", "0.999")),
                c("--ratio leaving no token (cls-topk)", "--ratio", valid("--ratio", "0.999", "--method", "cls-topk", "--alpha", "0")),
                c("--ratio leaving no token (spatial)", "--ratio", valid("--ratio", "0.99", "--method", "spatial")),
                c("--ratio not a number", "--ratio", valid("--ratio", "half")),
                c("--alpha 2", "--alpha", valid("--alpha", "2")),
                c("--alpha NaN", "--alpha", valid("--alpha", nan)),
                c("--patch-merge 0", "--patch-merge", valid("--patch-merge", "0")),
                c("--patch-merge 3 (not dividing 8)", "--patch-merge", valid("--patch-merge", "3")),
                c("--method unknown", "--method", valid("--method", "best")),
                c("--head-reduce unknown", "--head-reduce", valid("--head-reduce", "median")),
                c("--text-reduce unknown", "--text-reduce", valid("--text-reduce", "sum")),
                c("--temperature 0", "--temperature", valid("--temperature", "0")),
                c("--temperature -1", "--temperature", valid("--temperature", "-1")),
                c("--temperature Infinity", "--temperature", valid("--temperature", "Infinity")),
                c("--min-per-tile -1", "--min-per-tile", valid("--min-per-tile", "-1")),
                c("--min-per-tile above the tile", "--min-per-tile", valid("--min-per-tile", "17")),
                c("--min-per-tile above the ratio's share", "--min-per-tile", valid("--min-per-tile", "9")),
                c("--backend unknown", "--backend", valid("--backend", "cuda")),
                c("--threads 0", "--threads", valid("--threads", "0")),
                c("--threads 100000", "--threads", valid("--threads", "100000")),
                c("unknown option", "--frobnicate", valid("--frobnicate")),
                c("missing --input", "--input", cmd("prune", "--ratio", "0.5")),
                c("no command", "command", cmd()),
                // --- vit_attn, tile_cls, global_cls
                c("vit_attn missing", "vit_attn", prune(() -> ptp(false, m -> m.remove("vit_attn")))),
                c("vit_attn rank 2", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn", m.get("vit_attn").flatten(1, 2))))),
                c("vit_attn int32", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        m.get("vit_attn").to(org.bytedeco.pytorch.global.torch.ScalarType.Int))))),
                c("vit_attn rows not square", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        m.get("vit_attn").narrow(2, 0, 60).contiguous())))),
                c("vit_attn NaN", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn", fill(m.get("vit_attn"), Double.NaN))))),
                c("vit_attn infinite", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        fill(m.get("vit_attn"), Double.POSITIVE_INFINITY))))),
                c("vit_attn negative", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn", m.get("vit_attn").neg())))),
                c("vit_attn above 1", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn", fill(m.get("vit_attn"), 3e38))))),
                c("vit_attn 0 heads", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        m.get("vit_attn").narrow(1, 0, 0).contiguous())))),
                c("vit_attn 0 rows", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        m.get("vit_attn").narrow(0, 0, 0).contiguous())))),
                c("vit_attn 0 patches", "vit_attn", prune(() -> ptp(false, m -> m.put("vit_attn",
                        m.get("vit_attn").narrow(2, 0, 0).contiguous())))),
                c("tile_cls wrong rows", "tile_cls", prune(() -> ptp(false, m -> m.put("tile_cls",
                        m.get("tile_cls").narrow(0, 0, 3).contiguous())))),
                c("tile_cls float16 beside float32", "tile_cls", prune(() -> ptp(false, m -> m.put("tile_cls",
                        m.get("tile_cls").to(org.bytedeco.pytorch.global.torch.ScalarType.Half))))),
                c("global_cls missing", "global_cls", prune(() -> ptp(false, m -> m.remove("global_cls")))),
                c("global_cls rank 2", "global_cls", prune(() -> ptp(false, m -> m.put("global_cls", m.get("global_cls").unsqueeze(0))))),
                c("global_cls empty", "global_cls", prune(() -> ptp(false, m -> {
                    m.put("global_cls", m.get("global_cls").narrow(0, 0, 0).contiguous());
                    m.put("tile_cls", m.get("tile_cls").narrow(1, 0, 0).contiguous());
                }))),
                // --- llm_attn
                c("llm_attn wrong N", "llm_attn", prune(() -> ptp(false, m -> m.put("llm_attn",
                        m.get("llm_attn").narrow(2, 0, 79).contiguous())))),
                c("llm_attn 0 queries", "llm_attn", prune(() -> ptp(false, m -> m.put("llm_attn",
                        m.get("llm_attn").narrow(1, 0, 0).contiguous())))),
                c("llm_attn 0 heads", "llm_attn", prune(() -> ptp(false, m -> m.put("llm_attn",
                        m.get("llm_attn").narrow(0, 0, 0).contiguous())))),
                c("llm_attn negative", "llm_attn", prune(() -> ptp(false, m -> m.put("llm_attn", m.get("llm_attn").sub(new Scalar(1)))))),
                c("llm_attn NaN", "llm_attn", prune(() -> ptp(false, m -> m.put("llm_attn", fill(m.get("llm_attn"), Double.NaN))))),
                c("no instruction with --alpha 0.5", "--alpha", prune(() -> ptp(false, m -> m.remove("llm_attn")))),
                c("fastv without llm_q", "fastv", valid("--method", "fastv")),
                // --- llm_q, llm_k, positions
                c("llm_q 0 queries", "llm_q", prune(() -> ptp(true, m -> {
                    m.put("llm_q", m.get("llm_q").narrow(1, 0, 0).contiguous());
                    m.put("query_pos", m.get("query_pos").narrow(0, 0, 0).contiguous());
                }))),
                c("llm_q 0 head_dim", "llm_q", prune(() -> ptp(true, m -> {
                    m.put("llm_q", m.get("llm_q").narrow(2, 0, 0).contiguous());
                    m.put("llm_k", m.get("llm_k").narrow(2, 0, 0).contiguous());
                }))),
                c("llm_q = 3e38", "llm_q", prune(() -> ptp(true, m -> m.put("llm_q", fill(m.get("llm_q"), 3e38))))),
                c("llm_k = 3e38", "llm_k", prune(() -> ptp(true, m -> m.put("llm_k", fill(m.get("llm_k"), 3e38))))),
                c("llm_k = 3e38 (libtorch)", "llm_k", prune(() -> ptp(true, m -> m.put("llm_k", fill(m.get("llm_k"), 3e38))),
                        "--backend", "libtorch")),
                c("llm_k missing", "llm_k", prune(() -> ptp(true, m -> m.remove("llm_k")))),
                c("llm_k head_dim mismatch", "llm_k", prune(() -> ptp(true, m -> m.put("llm_k",
                        m.get("llm_k").narrow(2, 0, 4).contiguous())))),
                c("llm_k 3 kv heads for 4", "llm_k", prune(() -> ptp(true, m -> m.put("llm_k",
                        Data.randn(5, "float32", 3, 85, 8))))),
                c("llm_k fewer keys than positions", "query_pos", prune(() -> ptp(true, m -> m.put("llm_k",
                        m.get("llm_k").narrow(1, 0, 84).contiguous())))),
                c("query_pos length", "query_pos", prune(() -> ptp(true, m -> m.put("query_pos",
                        m.get("query_pos").narrow(0, 0, 2).contiguous())))),
                c("query_pos float", "query_pos", prune(() -> ptp(true, m -> m.put("query_pos",
                        m.get("query_pos").to(org.bytedeco.pytorch.global.torch.ScalarType.Float))))),
                c("query_pos before the visual tokens", "query_pos", prune(() -> ptp(true, m -> m.put("query_pos",
                        Tensor.create(new long[] {0, 1, 84}))))),
                c("query_pos duplicated", "query_pos", prune(() -> ptp(true, m -> m.put("query_pos",
                        Tensor.create(new long[] {83, 83, 84}))))),
                c("visual_pos length", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos",
                        m.get("visual_pos").narrow(0, 0, 79).contiguous())))),
                c("visual_pos negative", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos",
                        m.get("visual_pos").sub(new Scalar(5)))))),
                c("visual_pos past the keys", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos",
                        m.get("visual_pos").add(new Scalar(1000)))))),
                c("visual_pos unsorted", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos",
                        m.get("visual_pos").flip(new long[] {0}).contiguous())))),
                c("visual_pos duplicated", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos",
                        m.get("visual_pos").clamp_max(new Scalar(40)))))),
                c("a computation larger than memory (libtorch backend)", "memory", prune(() -> ptp(true, m -> {
                    int queries = 1 << 20;  // scores [1, 2^20, 2^20 + 85] in float32: 4 TB
                    long[] pos = new long[queries];
                    for (int i = 0; i < queries; i++) pos[i] = 85 + i;
                    m.put("llm_q", Data.randn(11, "float32", 1, queries, 1));
                    m.put("llm_k", Data.randn(12, "float32", 1, 85 + queries, 1));
                    m.put("query_pos", Tensor.create(pos));
                }), "--backend", "libtorch")),
                c("visual_pos rank 2", "visual_pos", prune(() -> ptp(true, m -> m.put("visual_pos", m.get("visual_pos").unsqueeze(0))))),
                // --- rollout
                c("rollout: no attn_0", "attn_0", () -> new String[] {"rollout", "--input", rollout(m -> m.clear())}),
                c("rollout: attn_0, attn_2", "attn_2", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("attn_2", m.remove("attn_1")))}),
                c("rollout: 0 heads", "attn_0", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.replaceAll((k, v) -> v.narrow(0, 0, 0).contiguous()))}),
                c("rollout: M = 1", "attn_0", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.replaceAll((k, v) -> v.narrow(1, 0, 1).narrow(2, 0, 1).contiguous()))}),
                c("rollout: not square", "attn_0", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.replaceAll((k, v) -> v.narrow(2, 0, 16).contiguous()))}),
                c("rollout: attn_1 other shape", "attn_1", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("attn_1", Data.softmaxRows(3, "float32", 2.0, 3, 10, 10)))}),
                c("rollout: negative", "attn_1", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("attn_1", m.get("attn_1").neg()))}),
                c("rollout: NaN", "attn_0", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("attn_0", fill(m.get("attn_0"), Double.NaN)))}),
                c("rollout: values rows", "values", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("values", Data.randn(1, "float32", 5, 4)))}),
                c("rollout: values rank 1", "values", () -> new String[] {"rollout", "--input",
                        rollout(m -> m.put("values", Data.randn(1, "float32", 17)))}),
                c("rollout: --mode unknown", "--mode", () -> new String[] {"rollout", "--input", rollout(m -> {}), "--mode", "x"}),
                // --- flops
                c("flops: unknown model", "--model", cmd("flops", "--model", "gpt-5", "--text-tokens", "10")),
                c("flops: --text-tokens -1", "--text-tokens", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens", "-1")),
                c("flops: --text-tokens 9e18", "--text-tokens", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens",
                        "9000000000000000000")),
                c("flops: --text-tokens past long", "--text-tokens", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens",
                        "99999999999999999999")),
                c("flops: --visual-tokens -1", "--visual-tokens", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens", "1",
                        "--visual-tokens", "-1")),
                c("flops: --keep above visual", "--keep", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens", "1",
                        "--keep", "577")),
                c("flops: --probe-layers 100", "--probe-layers", cmd("flops", "--model", "llava-1.5-7b", "--text-tokens", "1",
                        "--probe-layers", "100")),
                // --- demo, rejected before a model is built
                c("demo: empty prompt", "--prompt", cmd("demo", "--model", "tiny", "--prompt", "")),
                c("demo: 100,000-character prompt", "--prompt", cmd("demo", "--model", "tiny", "--prompt", "x".repeat(100_000))),
                c("demo: --alpha 2", "--alpha", cmd("demo", "--model", "tiny", "--alpha", "2")),
                c("demo: --ratio 1", "--ratio", cmd("demo", "--model", "tiny", "--ratio", "1")),
                c("demo: --repeat 0", "--repeat", cmd("demo", "--model", "tiny", "--repeat", "0")),
                c("demo: --out under /proc", "--out", cmd("demo", "--model", "tiny", "--out", "/proc/x")),
                c("demo: --dump under /proc", "--dump", cmd("demo", "--model", "tiny", "--dump", "/proc/x/y.safetensors")),
                c("demo: --dump a directory", "--dump", () -> new String[] {"demo", "--model", "tiny", "--out", dir.toString(), "--dump",
                        dir.toString()}),
                c("demo: --model unknown", "--model", cmd("demo", "--model", "huge")),
                c("demo: --dtype unknown", "--dtype", cmd("demo", "--model", "tiny", "--dtype", "int4")),
                c("demo: --device unknown", "--device", cmd("demo", "--model", "tiny", "--device", "tpu")),
                c("demo: --image missing", "--image", cmd("demo", "--model", "tiny", "--image", "/nonexistent.png")),
                c("demo: --image not an image", "--image", () -> new String[] {"demo", "--model", "tiny", "--image", write(new byte[100])}),
                c("demo: --image truncated PNG", "--image", () -> new String[] {"demo", "--model", "tiny", "--image",
                        write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H', 'D', 'R'})}),
                c("demo: --model-dir missing", "--model-dir", cmd("demo", "--model-dir", "/nonexistent")));
    }

    /**
     * A 4 GB tensor whose header already has the wrong rank is rejected from the header, without
     * reading its data (the file is sparse: reading it would take tens of seconds and 4 GB).
     */
    @Test
    void aTensorWithAWrongHeaderIsRejectedBeforeItsDataIsRead() throws IOException {
        long bytes = 4L << 30;
        String header = "{\"vit_attn\": {\"dtype\": \"F32\", \"shape\": [" + bytes / 4 + "], \"data_offsets\": [0, " + bytes + "]}}";
        Path p = Path.of(raw(header, 0));
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(f.length() + bytes);
        }
        Data.randn(1, "float32", 1);  // LibTorch's natives load in seconds on first use: not part of the measure
        CliTest.run("prune", "--input", "/nonexistent");
        long t0 = System.nanoTime();
        CliTest.Run r = CliTest.run("prune", "--input", p.toString());
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("tensor 'vit_attn'") && r.err().contains("must have rank 3"), r.err());
        assertTrue(seconds < 2, "took " + seconds + " s: the data was read");
        Files.delete(p);
    }

    @TestFactory
    Stream<DynamicTest> everyHostileInputIsExit2WithOneLineNamingTheInput() {
        List<Case> cases = cases();
        assertTrue(cases.size() >= 60, "the table holds " + cases.size() + " cases");
        return cases.stream().map(k -> DynamicTest.dynamicTest(k.name(), () -> {
            CliTest.Run r = CliTest.run(k.args().get());
            String err = r.err().strip();
            assertEquals(2, r.code(), k.name() + ": exit code; stderr: " + err);
            assertFalse(err.isEmpty(), k.name() + ": no message");
            assertFalse(err.contains("\n"), k.name() + ": more than one line:\n" + err);
            assertFalse(err.contains("Exception") || err.contains("\tat ") || err.contains("frame #"),
                    k.name() + ": a stack trace or exception name: " + err);
            assertTrue(err.contains(k.mentions()), k.name() + ": the message must name " + k.mentions() + ": " + err);
            assertTrue(r.out().isEmpty(), k.name() + ": stdout must stay empty: " + r.out());
            for (String internal : new String[] {"regionTemperature", "minPerTile", "visualPos", "queryPos", "layers[",
                    "'k'", "'q'", "instructions[", "argument 'ratio'"}) {
                assertFalse(err.contains(internal), k.name() + ": names an internal parameter (" + internal + "): " + err);
            }
        }));
    }
}
