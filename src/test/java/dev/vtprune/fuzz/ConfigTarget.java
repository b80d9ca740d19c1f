package dev.vtprune.fuzz;

import dev.vtprune.model.ClipTextModel;
import dev.vtprune.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * The config.json readers: {@link ModelConfig#fromHuggingFace} (InternVL2 and llava-hf) and
 * {@link ClipTextModel.Config#fromHuggingFace} (CLIP's text tower), both on every input. A
 * config either parses into shapes a model can be built from, or is refused with an
 * IllegalArgumentException; the invariants of a parsed ModelConfig are those its javadoc lists
 * (positive sizes, heads dividing the width, kv heads dividing the heads, an even LM head
 * dimension, whole merge blocks on the patch grid, matching projector widths, finite positive
 * RoPE base and epsilons, 1 <= min tiles <= max tiles).
 */
public final class ConfigTarget extends FileTarget {
    /** The file lies where a checkpoint keeps it: config.json in a model folder of its own. */
    public ConfigTarget(Path scratch) throws IOException {
        super("config", Files.createDirectories(scratch.resolve("fuzz-model")).resolve("config.json"));
    }

    @Override
    void parse(Path file, byte[] input) {
        IllegalArgumentException first = null;
        try {
            check(ModelConfig.fromHuggingFace(file));
        } catch (IllegalArgumentException e) {
            FuzzLoop.checkMessage(e);  // a rejection here and a parse as CLIP is fine, but both say why cleanly
            first = e;
        }
        try {
            check(ClipTextModel.Config.fromHuggingFace(file));
        } catch (IllegalArgumentException e) {
            if (first != null) throw first;
            FuzzLoop.checkMessage(e);
        }
    }

    static void check(ModelConfig c) {
        expect(c.name() != null && !c.name().isBlank(), "blank name");
        ModelConfig.Vision v = c.vision();
        expect(v.patchSize() >= 1 && v.imageSize() >= v.patchSize(), "vision: image " + v.imageSize() + " patch " + v.patchSize());
        expect(v.layers() >= 1 && v.hidden() >= 1 && v.heads() >= 1 && v.mlp() >= 1 && v.merge() >= 1, "vision: " + v);
        expect(v.hidden() % v.heads() == 0, "vision: heads do not divide hidden: " + v);
        expect(v.grid() % v.merge() == 0 && v.tokensPerTile() >= 1, "vision: grid " + v.grid() + ", merge " + v.merge());
        ModelConfig.Language l = c.language();
        expect(l.layers() >= 1 && l.hidden() >= 1 && l.heads() >= 1 && l.kvHeads() >= 1 && l.intermediate() >= 1
                && l.vocab() >= 1 && l.maxPositions() >= 1, "language: " + l);
        expect(l.hidden() % l.heads() == 0 && l.heads() % l.kvHeads() == 0 && l.headDim() % 2 == 0, "language: " + l);
        expect(Double.isFinite(l.ropeTheta()) && l.ropeTheta() > 0 && Double.isFinite(l.rmsEps()) && l.rmsEps() > 0,
                "language: " + l);
        ModelConfig.Projector p = c.projector();
        expect(p.in() == (long) v.hidden() * v.merge() * v.merge() && p.hidden() >= 1 && p.out() == l.hidden(),
                "projector " + p + " for " + v + " and " + l);
        ModelConfig.Tiling t = c.tiling();
        expect(1 <= t.minTiles() && t.minTiles() <= t.maxTiles(), "tiling: " + t);
        expect(c.visualTokens(t.maxTiles()) > 0, "no visual tokens at " + t.maxTiles() + " tiles");
    }

    static void check(ClipTextModel.Config c) {
        expect(c.vocab() >= 1 && c.hidden() >= 1 && c.intermediate() >= 1 && c.layers() >= 0 && c.heads() >= 1
                && c.maxPositions() >= 1 && c.projection() >= 1 && c.hidden() % c.heads() == 0, "clip: " + c);
        expect(Double.isFinite(c.eps()) && c.eps() > 0, "clip eps: " + c);
    }

    @Override
    public byte[] mutate(byte[] base, byte[] other, Random rnd) {
        if (rnd.nextInt(4) != 0) {
            byte[] m = JsonMutations.mutate(base, rnd, 3);
            if (m != null) return m;
        }
        return Mutations.mutate(base, other, rnd, 3);
    }

    @Override
    public long allocationLimit(int length) {
        return (16L << 20) + 64L * length;
    }
}
