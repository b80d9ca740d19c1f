package dev.vtprune.ops;

import static dev.vtprune.testing.Closed.assertGuarded;

import dev.vtprune.internal.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** Use after close of the ops' layouts and results throws; a second close does nothing. */
class ClosedStateTest {

    @Test
    void tileLayout() {
        TileLayout layout = TileLayout.of(new int[] {2}, 4);
        layout.offsetsOn(Tensors.cpu());  // the native arrays exist, so close() has something to free
        assertGuarded(layout, "TileLayout", layout::numTiles, () -> layout.tokens(0), layout::tileOffsets,
                () -> layout.offsetsOn(Tensors.cpu()), () -> layout.imageOf(1));
    }

    @Test
    void textLayout() {
        TextLayout layout = TextLayout.single(6, new long[] {4, 5}, new long[] {0, 1, 2});
        layout.arraysOn(Tensors.cpu());
        assertGuarded(layout, "TextLayout", layout::totalKeys, () -> layout.queryPos(0), () -> layout.arraysOn(Tensors.cpu()));
    }

    @Test
    void opResults() {
        try (TileLayout layout = TileLayout.of(new int[] {2}, 4)) {
            RegionBudget.Result budgets = RegionBudget.compute(torch.randn(3, 5), layout, RegionBudget.Params.PAPER);
            assertGuarded(budgets, "RegionBudget.Result", budgets::scores, budgets::weights, budgets::budgets);

            SegmentedTopK.Result top = SegmentedTopK.select(torch.randn(12), layout, Tensor.create(2L, 2L, 2L));
            assertGuarded(top, "SegmentedTopK.Result", top::kept, top::keptPerTile, top::fused);
        }
        Tensor attention = torch.softmax(torch.randn(1, 2, 5, 5), -1);
        Rollout.Result rollout = Rollout.clsRow(List.of(attention), Rollout.Mode.IVTP, null);
        assertGuarded(rollout, "Rollout.Result", rollout::clsRow, rollout::importance);
    }
}
