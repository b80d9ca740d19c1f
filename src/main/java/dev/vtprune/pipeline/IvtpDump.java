package dev.vtprune.pipeline;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.vtprune.internal.Args;
import dev.vtprune.model.LmPruning;
import dev.vtprune.model.VitPruning;

/**
 * An IVTP run's pruning points as JSON, for analysis: per ViT point and tile, and per LM point
 * and image, the layer, the tokens present and kept (ids and counts) and their scores; the LM
 * stage's per-layer cache lengths and the pseudo-CLS relevance of each instruction token.
 * ViT ids are patch ids of the tile's grid (CLS excluded); LM ids are sequence positions.
 */
public final class IvtpDump {
    private IvtpDump() {}

    public static String json(Result r) {
        Args.notNull(r, "result");
        if (r.vitTrace() == null) throw Args.error("result", "come from an IVTP run", "a run of another method");
        JsonObject root = new JsonObject();
        JsonArray vit = new JsonArray();
        for (VitPruning.Step s : r.vitTrace().steps()) {
            JsonObject p = new JsonObject();
            p.addProperty("layer", s.layer());
            p.addProperty("ms", s.ms());
            JsonArray tiles = new JsonArray();
            for (int t = 0; t < s.patches().length; t++) {
                tiles.add(point(s.patches()[t], s.kept()[t], s.importance()[t]));
            }
            p.add("tiles", tiles);
            vit.add(p);
        }
        root.add("vit", vit);
        Result.LmStage lm = r.lmStage();
        if (lm != null) {
            JsonArray points = new JsonArray();
            for (LmPruning.Step s : lm.steps()) {
                JsonObject p = new JsonObject();
                p.addProperty("layer", s.layer());
                p.addProperty("ms", s.ms());
                JsonArray images = new JsonArray();
                for (int b = 0; b < s.present().length; b++) {
                    images.add(point(s.present()[b], s.kept()[b], s.importance() == null ? null : s.importance()[b]));
                }
                p.add("images", images);
                points.add(p);
            }
            root.add("lm", points);
            JsonArray cache = new JsonArray();
            for (long[] layer : lm.positions()) cache.add(layer.length);
            root.add("lm_cache_lengths", cache);
            JsonArray words = new JsonArray();
            for (Result.LmStage.Word w : lm.words()) {
                JsonObject o = new JsonObject();
                o.addProperty("word", w.text());
                o.add("relevance", Double.isNaN(w.relevance()) ? null : new JsonPrimitive(w.relevance()));
                o.addProperty("in_pseudo_cls", w.selected());
                words.add(o);
            }
            root.add("words", words);
            root.addProperty("tau", lm.tau());
            root.addProperty("pseudo_cls_from_visual_cls", lm.fromVisualCls());
        }
        return new GsonBuilder().serializeSpecialFloatingPointValues().setPrettyPrinting().create().toJson(root);
    }

    private static JsonObject point(long[] present, long[] kept, double[] scores) {
        JsonObject o = new JsonObject();
        o.addProperty("present_count", present.length);
        o.addProperty("kept_count", kept.length);
        o.add("present", longs(present));
        o.add("kept", longs(kept));
        if (scores != null) {
            JsonArray a = new JsonArray();
            for (double v : scores) a.add(v);
            o.add("importance", a);
        }
        return o;
    }

    private static JsonArray longs(long[] v) {
        JsonArray a = new JsonArray();
        for (long x : v) a.add(x);
        return a;
    }
}
