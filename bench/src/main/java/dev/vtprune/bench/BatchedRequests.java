package dev.vtprune.bench;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.NativeLibrary;
import dev.vtprune.ops.TextLayout;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.internal.Tensors;
import dev.vtprune.prune.PruneInputs;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.Selection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Many requests pruned at once: {@code requests} concurrent InternVL2-2B requests, each an image
 * of 1 to 12 local tiles (+ thumbnail, 256 tokens per tile) and a prompt of 16 to 96 instruction
 * tokens (seeded), through the whole PTP selection from Q/K (CLS rows of ViT layer 11, LM layer 1's
 * Q/K with causal GQA), three ways in the same run:
 *
 * <ul>
 *   <li>{@code BATCH}: one ragged batch, so one native call per op for all the requests;
 *   <li>{@code LOOP}: the native pruner called once per request, as a service without batching
 *       would;
 *   <li>{@code LIBTORCH}: one batch through the LibTorch composition of the same computation.
 * </ul>
 *
 * <p>Before timing, the setup checks that the three give the same kept tokens (LOOP's indices
 * shifted by each request's offset in the batch) and that BATCH and LOOP ran native kernels and
 * LIBTORCH none.
 */
@State(Scope.Benchmark)
public class BatchedRequests {
    @Param({"8", "32"})
    public int requests;

    @Param({"BATCH", "LOOP", "LIBTORCH"})
    public String mode;

    private static final Shape S = Shape.INTERNVL;

    /** One request's inputs (contiguous, its own tensors) and where its tokens sit in the batch. */
    record Request(TileLayout layout, TextLayout text, Tensor cls, Tensor vitRows, Tensor q, Tensor k, long tokenOffset)
            implements AutoCloseable {
        PruneInputs inputs() {
            return PruneInputs.builder(layout).tileCls(cls).vitAttention(vitRows, false).patchMerge(S.merge)
                    .lmQk(q, k, text, Double.NaN).build();
        }

        @Override
        public void close() {
            layout.close();
            text.close();
            Tensors.closeAll(cls, vitRows, q, k);
        }
    }

    private final List<Request> each = new ArrayList<>();
    private TileLayout layout;
    private TextLayout text;
    private Tensor cls, vitRows, q, k;
    private PyramidTokenPruner nativePruner, libtorchPruner;

    @Setup(Level.Trial)
    public void setUp() {
        NativeLibrary.load();
        Random rnd = new Random(1000 + requests);
        torch.manual_seed(7 + requests);
        int[] localTiles = new int[requests];
        TextLayout.Builder texts = TextLayout.builder();
        TensorVector clsAll = new TensorVector(), rowsAll = new TensorVector(), qAll = new TensorVector(), kAll = new TensorVector();
        long tokenOffset = 0;
        for (int r = 0; r < requests; r++) {
            localTiles[r] = 1 + rnd.nextInt(12);
            int tiles = localTiles[r] + 1, visual = tiles * S.tokensPerTile(), queries = 16 + rnd.nextInt(81);
            long keys = S.system + visual + queries;
            long[] qpos = new long[queries], vpos = new long[visual];
            for (int i = 0; i < queries; i++) qpos[i] = S.system + visual + i;
            for (int i = 0; i < visual; i++) vpos[i] = S.system + i;
            Tensor c = Tensors.unscoped(() -> torch.randn(tiles, S.clsDim));
            Tensor rows = Tensors.unscoped(() -> torch.randn(tiles, S.vitHeads, S.grid * S.grid).mul(new Scalar(3.0)).softmax(-1));
            Tensor qr = Tensors.unscoped(() -> torch.randn(S.lmHeads, queries, S.lmDim));
            Tensor kr = Tensors.unscoped(() -> torch.randn(S.lmKvHeads, keys, S.lmDim));
            each.add(new Request(TileLayout.of(new int[] {localTiles[r]}, S.tokensPerTile()),
                    TextLayout.single(keys, qpos, vpos), c, rows, qr, kr, tokenOffset));
            texts.add(keys, qpos, vpos);
            clsAll.push_back(c);
            rowsAll.push_back(rows);
            qAll.push_back(qr);
            kAll.push_back(kr);
            tokenOffset += visual;
        }
        layout = TileLayout.of(localTiles, S.tokensPerTile());
        text = texts.build();
        cls = Tensors.unscoped(() -> torch.cat(clsAll));
        vitRows = Tensors.unscoped(() -> torch.cat(rowsAll));
        q = Tensors.unscoped(() -> torch.cat(qAll, 1));
        k = Tensors.unscoped(() -> torch.cat(kAll, 1));
        nativePruner = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER);
        libtorchPruner = new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER.withBackend(Backend.LIBTORCH));

        long[] expected = keptOf("BATCH");
        for (String m : new String[] {"LOOP", "LIBTORCH"}) {
            long[] got = keptOf(m);
            if (!Arrays.equals(expected, got)) {
                throw new IllegalStateException("batched requests: " + m + " keeps other tokens than BATCH ("
                        + got.length + " vs " + expected.length + " kept)");
            }
        }
    }

    /** The kept global indices of one run of a mode, checking which backend ran. */
    private long[] keptOf(String m) {
        long before = NativeLibrary.callCount();
        List<Long> kept = new ArrayList<>();
        try (PointerScope scope = new PointerScope()) {
            if (m.equals("LOOP")) {
                for (Request r : each) {
                    try (Selection s = nativePruner.select(r.inputs())) {
                        for (long i : Tensors.toLongs(s.kept())) kept.add(i + r.tokenOffset);
                    }
                }
            } else {
                try (Selection s = (m.equals("BATCH") ? nativePruner : libtorchPruner).select(batchInputs())) {
                    for (long i : Tensors.toLongs(s.kept())) kept.add(i);
                }
            }
        }
        boolean ranNative = NativeLibrary.callCount() > before;
        if (ranNative != !m.equals("LIBTORCH")) {
            throw new IllegalStateException("batched requests: mode " + m + (ranNative ? " ran" : " did not run") + " native kernels");
        }
        return kept.stream().mapToLong(Long::longValue).toArray();
    }

    private PruneInputs batchInputs() {
        return PruneInputs.builder(layout).tileCls(cls).vitAttention(vitRows, false).patchMerge(S.merge)
                .lmQk(q, k, text, Double.NaN).build();
    }

    @Benchmark
    public void prune(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            switch (mode) {
                case "LOOP" -> {
                    for (Request r : each) {
                        try (Selection s = nativePruner.select(r.inputs())) {
                            bh.consume(s.kept());
                        }
                    }
                }
                case "BATCH" -> {
                    try (Selection s = nativePruner.select(batchInputs())) {
                        bh.consume(s.kept());
                    }
                }
                default -> {
                    try (Selection s = libtorchPruner.select(batchInputs())) {
                        bh.consume(s.kept());
                    }
                }
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        each.forEach(Request::close);
        each.clear();
        layout.close();
        text.close();
        Tensors.closeAll(cls, vitRows, q, k);
    }
}
