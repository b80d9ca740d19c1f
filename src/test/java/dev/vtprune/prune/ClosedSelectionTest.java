package dev.vtprune.prune;

import static dev.vtprune.testing.Closed.assertGuarded;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import dev.vtprune.ops.TileLayout;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** A closed Selection refuses every read instead of handing out freed tensors. */
class ClosedSelectionTest {
    @Test
    void selectionUseAfterClose() {
        try (TileLayout layout = TileLayout.of(new int[] {1}, 3)) {
            Selection s = new Selection(layout, Tensor.create(0L, 4L), Tensor.create(1L, 1L), null, null, null, null);
            Tensor visual = torch.randn(6, 2);
            assertDoesNotThrow(() -> s.gather(visual).close());
            assertGuarded(s, "Selection", s::kept, s::keptIndices, s::keepMask, s::numKept, () -> s.gather(visual), s::layout);
        }
    }
}
