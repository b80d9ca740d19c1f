package dev.vtprune.io;

import static dev.vtprune.io.SafetensorsRoundTripTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.internal.Tensors;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class MapTensorSourceTest {
    @Test
    void keepsOrderAndLoadsIndependentCopies() {
        Tensor w = Tensor.create(new float[] {1, 2, 3, 4}, 2, 2);
        Map<String, Tensor> map = new LinkedHashMap<>();
        map.put("z", Tensor.create(new int[] {5}));
        map.put("w", w);
        MapTensorSource src = new MapTensorSource("test weights", map);
        map.clear();  // the source copied the map

        assertEquals(List.of("z", "w"), List.copyOf(src.names()));
        assertTrue(src.contains("w"));
        assertEquals("test weights (2 tensors)", src.describe());

        Tensor loaded = src.load("w");
        assertSame(ScalarType.Float, Tensors.scalarType(loaded));
        assertArrayEquals(new long[] {2, 2}, loaded.shape());
        loaded.fill_(new Scalar(9.0));
        assertArrayEquals(new float[] {1, 2, 3, 4}, Tensors.toFloats(w), "the source's tensor is unchanged");
        assertArrayEquals(new float[] {1, 2, 3, 4}, Tensors.toFloats(src.load("w")));
        src.close();
        assertArrayEquals(new float[] {1, 2, 3, 4}, Tensors.toFloats(w), "close leaves the caller's tensors alone");
    }

    @Test
    void unknownNameAndBadEntries() {
        MapTensorSource src = new MapTensorSource(Map.of("a", Tensor.create(new int[] {1})));
        assertMessage(IllegalArgumentException.class, () -> src.load("b"), "in-memory tensors (1 tensor)",
                "tensor name must be one of the 1 tensor it holds ('a')", "got 'b'");
        Map<String, Tensor> withNull = new HashMap<>();
        withNull.put("n", null);
        assertMessage(IllegalArgumentException.class, () -> new MapTensorSource(withNull),
                "tensors['n']", "must be a defined tensor", "got null");
    }
}
