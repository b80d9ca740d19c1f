package dev.vtprune.bench;

import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Random fp32 CPU inputs of every op at one {@link Shape}, each made on first use (some are
 * gigabytes at the InternVL shape) from its own seed, never zeros: attention rows are
 * softmaxes of sharpened normals.
 */
public final class Inputs implements AutoCloseable {
    public final Shape shape;
    public final TileLayout layout;
    public final TextLayout text;
    private final long seed;
    private final Map<String, Object> made = new HashMap<>();

    public Inputs(Shape s, long seed) {
        this.shape = s;
        this.seed = seed;
        layout = TileLayout.of(new int[] {s.localTiles}, s.tokensPerTile());
        long[] qpos = new long[s.text], vpos = new long[s.visual()];
        for (int i = 0; i < s.text; i++) qpos[i] = s.system + s.visual() + i;
        for (int i = 0; i < vpos.length; i++) vpos[i] = s.system + i;
        text = TextLayout.single(s.keys(), qpos, vpos);
    }

    // Inputs are made outside the caller's PointerScope (they are first asked for inside the
    // benchmark's), so that they live until close().
    // (no computeIfAbsent: an input may be made from another, e.g. budgets from cls)
    private Tensor once(String name, Supplier<Tensor> make) {
        Object t = made.get(name);
        if (t == null) {
            torch.manual_seed(seed + name.hashCode());
            t = Tensors.unscoped(make);
            made.put(name, t);
        }
        return (Tensor) t;
    }

    @SuppressWarnings("unchecked")
    private List<Tensor> onceList(String name, int count, Supplier<Tensor> make) {
        Object list = made.get(name);
        if (list == null) {
            torch.manual_seed(seed + name.hashCode());
            List<Tensor> out = new ArrayList<>();
            for (int i = 0; i < count; i++) out.add(Tensors.unscoped(make));
            made.put(name, list = out);
        }
        return (List<Tensor>) list;
    }

    private static Tensor softmax(Tensor x) {
        return x.mul(new Scalar(3.0)).softmax(-1);
    }

    /** K1: [tiles, 1024] CLS embeddings. */
    public Tensor cls() {
        return once("cls", () -> torch.randn(shape.tiles(), shape.clsDim));
    }

    /** K2: per-token scores and the PTP budgets of cls(). */
    public Tensor bottomUp() {
        return once("bottomUp", () -> torch.rand(shape.visual()));
    }

    public Tensor instruction() {
        return once("instruction", () -> torch.rand(shape.visual()));
    }

    public Tensor budgets() {
        return once("budgets", () -> {
            try (RegionBudget.Result r = RegionBudget.compute(cls(), layout, RegionBudget.Params.PAPER)) {
                return r.budgets().clone();
            }
        });
    }

    /** K5: [tiles, heads, P] CLS rows; q_cls [tiles, heads, d] and K [tiles, heads, 1 + P, d]. */
    public Tensor vitRows() {
        return once("vitRows", () -> softmax(torch.randn(shape.tiles(), shape.vitHeads, shape.grid * shape.grid)));
    }

    public Tensor vitQCls() {
        return once("vitQCls", () -> torch.randn(shape.tiles(), shape.vitHeads, shape.vitDim));
    }

    public Tensor vitK() {
        return once("vitK", () -> torch.randn(shape.tiles(), shape.vitHeads, shape.vitTokens(), shape.vitDim));
    }

    /** K4: [Hq, Q, N] probabilities; Q [Hq, Q, d] and K [Hkv, L, d]. */
    public Tensor lmAttn() {
        return once("lmAttn", () -> softmax(torch.randn(shape.lmHeads, shape.text, shape.visual())).div(new Scalar(4.0)));
    }

    public Tensor lmQ() {
        return once("lmQ", () -> torch.randn(shape.lmHeads, shape.text, shape.lmDim));
    }

    public Tensor lmK() {
        return once("lmK", () -> torch.randn(shape.lmKvHeads, shape.keys(), shape.lmDim));
    }

    /** K3: 3 layers of [tiles, heads, M, M] probabilities (2.6 GB at InternVL). */
    public List<Tensor> rolloutLayers() {
        return onceList("rolloutLayers", 3,
                () -> softmax(torch.randn(shape.tiles(), shape.vitHeads, shape.vitTokens(), shape.vitTokens())));
    }

    /** K3 Q/K: 3 layers of q and of k, [tiles, heads, M, d]. */
    public List<Tensor> rolloutQ() {
        return onceList("rolloutQ", 3, () -> torch.randn(shape.tiles(), shape.vitHeads, shape.vitTokens(), shape.vitDim));
    }

    public List<Tensor> rolloutK() {
        return onceList("rolloutK", 3, () -> torch.randn(shape.tiles(), shape.vitHeads, shape.vitTokens(), shape.vitDim));
    }

    /** Gather: the projected visual tokens [N, 2048] (InternLM2-1.8B width). */
    public Tensor visualEmbeds() {
        return once("visualEmbeds", () -> torch.randn(shape.visual(), 2048));
    }

    @Override
    public void close() {
        layout.close();
        text.close();
        for (Object o : made.values()) {
            if (o instanceof Tensor t) t.close();
            if (o instanceof List<?> l) l.forEach(t -> ((Tensor) t).close());
        }
        made.clear();
    }
}
