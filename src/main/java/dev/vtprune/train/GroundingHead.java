package dev.vtprune.train;

import dev.vtprune.internal.Tensors;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A linear classifier on each visual token the LM receives: which object (colour and shape) it
 * shows, or nothing ({@link TaskBatch#ground()}). Training only: its loss teaches the ViT and
 * the projector to keep an object's identity in the object's own tokens, the property every
 * token-pruning method relies on; the checkpoint does not carry it.
 *
 * <p>Tokens showing nothing outnumber the others about 30 to 1; they are weighted by
 * {@link #NOTHING_WEIGHT} so that the head cannot settle on "nothing" everywhere.
 */
final class GroundingHead implements AutoCloseable {
    static final double NOTHING_WEIGHT = 0.1;
    private final Map<String, Tensor> w = new LinkedHashMap<>();
    private final Tensor classWeights;

    GroundingHead(int width, long seed) {
        Generator g = torch.createCPUGenerator(seed);
        w.put("ground.weight", Tensors.unscoped(() -> torch.randn(new long[] {TaskBatch.GROUND_CLASSES, width},
                new GeneratorOptional(g), Tensors.options(ScalarType.Float, Tensors.cpu())).mul(new Scalar(1 / Math.sqrt(width)))));
        w.put("ground.bias", Tensors.unscoped(() -> Tensors.zeros(ScalarType.Float, Tensors.cpu(), TaskBatch.GROUND_CLASSES)));
        for (Tensor t : w.values()) t.requires_grad_(true);
        float[] cw = new float[TaskBatch.GROUND_CLASSES];
        java.util.Arrays.fill(cw, 1f);
        cw[0] = (float) NOTHING_WEIGHT;
        classWeights = Tensors.unscoped(() -> Tensors.floats(cw, cw.length));
    }

    Map<String, Tensor> weights() {
        return w;
    }

    /**
     * Class-weighted mean cross-entropy of the head on `visual` [views, t, d] against `labels`
     * (views * t class ids, row-major like the tokens).
     */
    Tensor loss(Tensor visual, long[] labels) {
        long n = visual.size(0) * visual.size(1);
        if (labels.length != n) {
            throw new IllegalArgumentException("argument 'labels' must hold one class per visual token (" + n + "), got " + labels.length);
        }
        Tensor logits = torch.linear(visual.reshape(n, visual.size(2)), w.get("ground.weight"), new TensorOptional(w.get("ground.bias")));
        // reduction 1 = mean (weighted by the target's class weight), ignore_index unused.
        return torch.nll_loss(torch.log_softmax(logits, 1), Tensor.create(labels), new TensorOptional(classWeights), 1, -100);
    }

    @Override
    public void close() {
        try (PointerScope ignored = new PointerScope()) {
            for (Tensor t : w.values()) t.close();
            classWeights.close();
        }
    }
}
