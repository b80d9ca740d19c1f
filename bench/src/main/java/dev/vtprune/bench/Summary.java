package dev.vtprune.bench;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Merges the JMH results (every jmh-*.json), the peak-memory probe and the end-to-end runs into
 * bench/results/summary.json (the schema of issue 5), prints the table, and writes results.md.
 *
 * <p>Usage: {@code Summary RESULTS_DIR MACHINE DATE COMMAND}.
 */
public final class Summary {
    private Summary() {}

    record Op(String name, String shape, double ours, double baseline, double oursErr, double baseErr, long oursPeak,
              long basePeak) {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        String machine = args[1], date = args[2], command = args[3];
        Map<String, double[]> times = new LinkedHashMap<>();  // name|shape|backend -> [score, error]
        List<JsonElement> benchmarks = new ArrayList<>();
        try (var files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.getFileName().toString().matches("jmh-.*\\.json")).sorted()::iterator) {
                JsonParser.parseString(Files.readString(f)).getAsJsonArray().forEach(benchmarks::add);
            }
        }
        for (JsonElement e : benchmarks) {
            JsonObject b = e.getAsJsonObject();
            JsonObject p = b.getAsJsonObject("params");
            String name;
            if (p.has("op")) {
                name = p.get("op").getAsString();
            } else {  // results of the earlier layout, one nested class per op
                String bench = b.get("benchmark").getAsString();  // ...OpBenchmarks.K1RegionBudget.run
                bench = bench.substring(0, bench.lastIndexOf('.'));
                name = bench.substring(bench.lastIndexOf('.') + 1);
            }
            JsonObject m = b.getAsJsonObject("primaryMetric");
            times.put(name + "|" + p.get("shape").getAsString() + "|" + p.get("backend").getAsString(),
                    new double[] {m.get("score").getAsDouble(), m.get("scoreError").getAsDouble()});
        }
        Map<String, Long> peaks = new LinkedHashMap<>();
        Path memory = dir.resolve("memory.json");
        if (Files.exists(memory)) {
            for (JsonElement e : JsonParser.parseString(Files.readString(memory)).getAsJsonArray()) {
                JsonObject o = e.getAsJsonObject();
                peaks.put(o.get("name").getAsString() + "|" + o.get("shape").getAsString() + "|" + o.get("backend").getAsString(),
                        o.get("peak_bytes").getAsLong());
            }
        }
        List<Op> ops = new ArrayList<>();
        for (String key : times.keySet()) {
            String[] k = key.split("\\|");
            if (!k[2].equals("NATIVE")) continue;
            // ours alone (no LibTorch row: quick runs K3 at InternVL's shape for the roofline only,
            // its composition there costs seconds and gigabytes a call): baseline NaN
            String base = k[0] + "|" + k[1] + "|LIBTORCH";
            double[] theirs = times.getOrDefault(base, new double[] {Double.NaN, Double.NaN});
            ops.add(new Op(k[0], k[1], times.get(key)[0], theirs[0], times.get(key)[1], theirs[1],
                    peaks.getOrDefault(key, -1L), peaks.getOrDefault(base, -1L)));
        }

        Path limitsFile = dir.resolve("limits.json");
        JsonObject limits = Files.exists(limitsFile) ? JsonParser.parseString(Files.readString(limitsFile)).getAsJsonObject() : null;

        JsonObject out = new JsonObject();
        out.addProperty("machine", machine);
        out.addProperty("date", date);
        out.addProperty("command", command);
        if (limits != null) out.add("limits", limits);
        JsonArray opsJson = new JsonArray();
        for (Op o : ops) {
            JsonObject j = new JsonObject();
            j.addProperty("name", o.name);
            j.addProperty("shape", Shape.valueOf(o.shape).describe());
            j.addProperty("ours_us", round(o.ours));
            if (!Double.isNaN(o.baseline)) {
                j.addProperty("baseline_us", round(o.baseline));
                j.addProperty("speedup", round(o.baseline / o.ours));
            }
            j.addProperty("ours_peak_bytes", o.oursPeak);
            j.addProperty("baseline_peak_bytes", o.basePeak);
            j.addProperty("ours_error_us", round(o.oursErr));
            if (!Double.isNaN(o.baseline)) j.addProperty("baseline_error_us", round(o.baseErr));
            Bound b = bound(o, limits);
            if (b != null) {
                j.addProperty("min_bytes", b.roof.bytes());
                j.addProperty("min_flops", b.roof.flops());
                j.addProperty("bound_us", round(b.micros));
                j.addProperty("bound_by", b.by);
                j.addProperty("fraction_of_bound", round(b.micros / o.ours));
            }
            opsJson.add(j);
        }
        out.add("ops", opsJson);
        Map<String, double[]> batched = new java.util.TreeMap<>();  // requests|mode -> [us, error]
        Path batchedFile = dir.resolve("batched.json");
        if (Files.exists(batchedFile)) {
            for (JsonElement e : JsonParser.parseString(Files.readString(batchedFile)).getAsJsonArray()) {
                JsonObject b = e.getAsJsonObject(), p = b.getAsJsonObject("params"), m = b.getAsJsonObject("primaryMetric");
                batched.put(String.format(Locale.ROOT, "%03d|%s", p.get("requests").getAsInt(), p.get("mode").getAsString()),
                        new double[] {m.get("score").getAsDouble(), m.get("scoreError").getAsDouble()});
            }
            JsonArray rows = new JsonArray();
            batched.forEach((key, v) -> {
                JsonObject j = new JsonObject();
                j.addProperty("requests", Integer.parseInt(key.substring(0, 3)));
                j.addProperty("mode", key.substring(4));
                j.addProperty("us", round(v[0]));
                j.addProperty("error_us", round(v[1]));
                rows.add(j);
            });
            out.add("batched_requests", rows);
        }
        Path throughput = dir.resolve("throughput.json");
        if (Files.exists(throughput)) out.add("throughput", JsonParser.parseString(Files.readString(throughput)));
        Path e2e = dir.resolve("e2e.json");
        out.add("end_to_end", Files.exists(e2e) ? JsonParser.parseString(Files.readString(e2e)) : new JsonArray());
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        Files.writeString(dir.resolve("summary.json"), gson.toJson(out) + "\n");

        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "Machine: %s. Date: %s. Command: `%s`.%n%n", machine, date, command));
        if (limits != null) {
            md.append(String.format(Locale.ROOT, "Limits measured in this run (%d cores; LibTorch %d threads, vtprune kernels %d): triad %.1f GB/s, read %.1f GB/s "
                            + "(one core: %.1f / %.1f GB/s); fp32 GEMM peak %.1f GFLOP/s (by shape: %s).%n%n", limits.get("cores").getAsInt(),
                    limits.get("threads").getAsInt(), limits.get("vtprune_threads").getAsInt(),
                    limits.get("triad_gbs").getAsDouble(), limits.get("read_gbs").getAsDouble(),
                    limits.get("triad_gbs_1core").getAsDouble(), limits.get("read_gbs_1core").getAsDouble(),
                    limits.get("gemm_peak_gflops").getAsDouble(), limits.getAsJsonObject("gemm_gflops")));
        }
        md.append("| op | shape | ours (us) | LibTorch (us) | speedup | bound (us) | of bound | ours peak temp | LibTorch peak temp |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Op o : ops) {
            Bound b = bound(o, limits);
            boolean alone = Double.isNaN(o.baseline);
            md.append(String.format(Locale.ROOT, "| %s | %s | %s ± %s | %s | %s | %s | %s | %s | %s |%n", o.name,
                    Shape.valueOf(o.shape).describe(), fmt(o.ours), fmt(o.oursErr),
                    alone ? "- (not run)" : fmt(o.baseline) + " ± " + fmt(o.baseErr),
                    alone ? "-" : String.format(Locale.ROOT, "%.1fx", o.baseline / o.ours), b == null ? "-" : fmt(b.micros) + " (" + b.by + ")",
                    b == null ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * b.micros / o.ours),
                    bytes(o.oursPeak), bytes(o.basePeak)));
        }
        if (!batched.isEmpty()) {
            md.append("\nPTP selection (ViT CLS rows, LM layer-1 Q/K) for many InternVL2-2B requests (1-12 tiles, 16-96 instruction tokens each):\n\n"
                    + "| requests | one batch (ms) | loop over requests (ms) | LibTorch, one batch (ms) | batch vs loop | batch vs LibTorch |\n"
                    + "|---:|---:|---:|---:|---:|---:|\n");
            for (String req : batched.keySet().stream().map(k -> k.substring(0, 3)).distinct().toList()) {
                double[] b = batched.get(req + "|BATCH"), l = batched.get(req + "|LOOP"), t = batched.get(req + "|LIBTORCH");
                if (b == null || l == null || t == null) continue;
                md.append(String.format(Locale.ROOT, "| %d | %s ± %s | %s ± %s | %s ± %s | %.2fx | %.1fx |%n", Integer.parseInt(req),
                        fmt(b[0] / 1000), fmt(b[1] / 1000), fmt(l[0] / 1000), fmt(l[1] / 1000), fmt(t[0] / 1000), fmt(t[1] / 1000),
                        l[0] / b[0], t[0] / b[0]));
            }
        }
        if (Files.exists(e2e)) {
            md.append("\nFor IVTP, probe = the pseudo-CLS (CLIP text tower) and select + gather = the GTP decisions at every "
                    + "pruning point (ViT and LM); its shorter ViT and LM runs show in the TTFT.\n\n"
                    + "| preset | method | ratio | probe reused | visual tokens | prefill full (ms) | probe (ms) | select + gather (ms) | "
                    + "prefill pruned (ms) | overhead % | TTFT full (ms) | TTFT pruned (ms) | TTFT speedup |\n"
                    + "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (JsonElement e : JsonParser.parseString(Files.readString(e2e)).getAsJsonArray()) {
                JsonObject r = e.getAsJsonObject();
                md.append(String.format(Locale.ROOT, "| %s | %s | %.2f | %s | %d | %.1f | %.1f | %.2f | %.1f | %.2f | %.0f | %.0f | %.2fx |%n",
                        r.get("preset").getAsString(), r.has("method") ? r.get("method").getAsString() : "ptp", r.get("ratio").getAsDouble(),
                        r.get("reuse_probe").getAsBoolean() ? "yes" : "no", r.get("visual_tokens").getAsLong(),
                        r.get("prefill_full_ms").getAsDouble(), r.get("probe_ms").getAsDouble(),
                        r.get("select_ms").getAsDouble(), r.get("prefill_pruned_ms").getAsDouble(),
                        r.get("overhead_pct").getAsDouble(), r.get("ttft_full_ms").getAsDouble(),
                        r.get("ttft_pruned_ms").getAsDouble(), r.get("ttft_speedup").getAsDouble()));
            }
        }
        if (Files.exists(throughput)) {
            md.append("\nRequests in flight on one `demo` pipeline (p99 is the slowest request when there are fewer than 100):\n\n"
                    + "| pruned | clients | requests | requests/s | p50 (ms) | p99 (ms) |\n|---|---:|---:|---:|---:|---:|\n");
            for (JsonElement e : JsonParser.parseString(Files.readString(throughput)).getAsJsonArray()) {
                JsonObject r = e.getAsJsonObject();
                md.append(String.format(Locale.ROOT, "| %s | %d | %d | %.3f | %.0f | %.0f |%n",
                        r.get("pruned").getAsBoolean() ? "PTP r=0.5" : "no", r.get("clients").getAsInt(),
                        r.get("requests").getAsInt(), r.get("requests_per_s").getAsDouble(), r.get("p50_ms").getAsDouble(),
                        r.get("p99_ms").getAsDouble()));
            }
        }
        Files.writeString(dir.resolve("results.md"), md.toString());
        System.out.print(md);
    }

    /** An op's roofline bound at the measured limits, or null without limits.json. */
    record Bound(Roofline roof, double micros, String by) {}

    static Bound bound(Op o, JsonObject limits) {
        if (limits == null) return null;
        Roofline r = Roofline.of(o.name, Shape.valueOf(o.shape));
        double read = limits.get("read_gbs").getAsDouble();
        double gemm = limits.get("gemm_peak_gflops").getAsDouble();
        return new Bound(r, r.boundMicros(read, gemm), r.memoryBound(read, gemm) ? "memory" : "compute");
    }

    static double round(double v) {
        return Math.round(v * 1000.0) / 1000.0;
    }

    static String fmt(double us) {
        return us >= 1000 ? String.format(Locale.ROOT, "%,.0f", us) : String.format(Locale.ROOT, "%.1f", us);
    }

    static String bytes(long b) {
        if (b < 0) return "-";
        if (b < 1 << 20) return String.format(Locale.ROOT, "%.0f KiB", b / 1024.0);
        if (b < 1L << 30) return String.format(Locale.ROOT, "%.1f MiB", b / 1048576.0);
        return String.format(Locale.ROOT, "%.2f GiB", b / 1073741824.0);
    }
}
