package dev.vtprune.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.task.WordTokenizer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class EvaluatorTest {
    /** Rows for every method and ratio through the pipeline: token counts follow the keep ratio, FLOPs fall with it. */
    @Test
    void rowsPerMethodAndRatio() {
        try (Lvlm m = RandomWeights.create(ModelConfig.preset("vqa-tiny"), 2, ScalarType.Float)) {
            StringWriter log = new StringWriter();
            List<Evaluator.Row> rows = new Evaluator(m, WordTokenizer.task())
                    .run(3, 3, List.of("none", "ptp", "fastv", "random"), List.of(0.5, 0.25), new PrintWriter(log, true));
            assertEquals(7, rows.size());
            Evaluator.Row none = rows.get(0);
            assertEquals("none", none.method());
            assertEquals(1.0, none.keep());
            assertEquals(144, none.visualTokens(), 1e-9);
            for (Evaluator.Row r : rows.subList(1, rows.size())) {
                assertEquals(144 * r.keep(), r.visualTokens(), 1.0, r.toString());
                assertTrue(r.tflops() < none.tflops() || r.method().equals("ptp"), r + " vs " + none);
                assertEquals(3, r.accuracy().n());
            }
            assertTrue(rows.get(2).tflops() < rows.get(1).tflops(), "ptp at keep 0.25 costs less than at 0.5");
            assertTrue(log.toString().contains("eval fastv"), log.toString());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Evaluator(m, WordTokenizer.task())
                    .run(3, 1, List.of("magic"), List.of(0.5), new PrintWriter(new StringWriter())));
            assertTrue(e.getMessage().contains("'--methods'"), e.getMessage());
        }
    }
}
