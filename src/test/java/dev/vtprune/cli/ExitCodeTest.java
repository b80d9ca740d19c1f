package dev.vtprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vtprune.ops.RegionBudget;
import dev.vtprune.ops.TileLayout;
import dev.vtprune.ops.VtpruneException;
import dev.vtprune.ops.VtpruneException.Status;
import java.util.concurrent.ExecutionException;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** Exit 2 for whatever the input is to blame for, native statuses included; 1 only for our own failures. */
class ExitCodeTest {

    @Test
    void nativeStatusesMapToBadInputOrInternal() {
        for (Status s : Status.values()) {
            int want = switch (s) {
                case INVALID_ARGUMENT, NONFINITE, UNSUPPORTED, CUDA_UNAVAILABLE, OUT_OF_MEMORY -> 2;
                case CUDA, INTERNAL, UNKNOWN -> 1;
            };
            VtpruneException e = new VtpruneException(s, "op: message");
            assertEquals(want, Main.exitCode(e), s.name());
            assertEquals(want, Main.exitCode(new RuntimeException("wrapped", e)), s + " as a cause");
            assertEquals(want, Main.exitCode(new ExecutionException(new RuntimeException(e))), s + " two causes down");
        }
    }

    @Test
    void otherExceptions() {
        assertEquals(2, Main.exitCode(new IllegalArgumentException("argument 'x' must be > 0, got -1")));
        assertEquals(2, Main.exitCode(new java.io.UncheckedIOException(new java.io.IOException("no such file"))));
        assertEquals(1, Main.exitCode(new IllegalStateException("TileLayout is closed")));
        assertEquals(1, Main.exitCode(new NullPointerException()));
    }

    /** The library's own error for data the Java checks let through (a NaN in the CLS rows) is bad input. */
    @Test
    void aRealNativeErrorIsBadInput() {
        try (TileLayout layout = TileLayout.of(new int[] {2}, 4)) {
            var cls = torch.randn(3, 5);
            cls.index_put_(new org.bytedeco.pytorch.TensorIndexVector(new org.bytedeco.pytorch.TensorIndex(1L)),
                    new Scalar(Double.NaN));
            VtpruneException e = org.junit.jupiter.api.Assertions.assertThrows(VtpruneException.class,
                    () -> RegionBudget.compute(cls, layout, RegionBudget.Params.PAPER));
            assertEquals(Status.INVALID_ARGUMENT, e.status(), e.getMessage());
            assertEquals(2, Main.exitCode(e), e.toString());
        }
    }
}
