package dev.vtprune.model;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A model of any config with seeded random weights: for demos, tests and benchmarks where no
 * checkpoint is at hand. Scaled so that activations stay finite and informative through deep
 * stacks: Linear and conv weights N(0, 1/sqrt(fan_in)) (unit-variance outputs from normalised
 * inputs, and attention logits of unit variance, so softmax rows are neither uniform nor
 * one-hot), biases N(0, 0.02), norm scales 1 and shifts 0, InternViT layer scales 0.1,
 * embeddings N(0, 1/sqrt(hidden)). Values are drawn in float32 from a private generator (the
 * global LibTorch seed is left alone), then cast, so every dtype sees the same model.
 */
public final class RandomWeights {
    private RandomWeights() {}

    /** Same seed, config and dtype give the same weights. Weights live on the CPU. */
    public static Lvlm create(ModelConfig config, long seed, ScalarType dtype) {
        Args.notNull(config, "config");
        ScalarType type = checkDtype(dtype);
        Generator generator = Scope.unscoped(() -> torch.createCPUGenerator(seed));
        try {
            java.util.Map<String, Tensor> made = new java.util.HashMap<>();
            return Lvlm.build(config, type, spec -> {
                // A tied head is the embedding itself, as in the checkpoints that tie it.
                boolean tied = config.language().tiedHead() && spec.name().equals(LanguageModel.PREFIX + "head.weight");
                Tensor t = tied ? made.get(LanguageModel.PREFIX + "embed") : Scope.unscoped(() -> draw(spec, generator, type));
                made.put(spec.name(), t);
                return t;
            });
        } finally {
            generator.close();
        }
    }

    /**
     * The run dtype as its ScalarType constant (compared by value: JavaCPP hands out enum
     * objects that only carry the value); float32, bfloat16 or float16.
     */
    static ScalarType checkDtype(ScalarType dtype) {
        Args.notNull(dtype, "dtype");
        for (ScalarType t : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16, ScalarType.Half}) {
            if (t.value == dtype.value) return t;
        }
        throw Args.error("dtype", "be Float, BFloat16 or Half", dtype.value);
    }

    /** One weight of `spec` from `generator` (shared with the CLIP text tower, {@link ClipTextModel#random}). */
    static Tensor draw(ParamSpec spec, Generator generator, ScalarType dtype) {
        long[] shape = spec.shape();
        Device cpu = new Device(torch.DeviceType.CPU);
        switch (spec.init()) {
            case NORM_WEIGHT:
                return Tensors.full(dtype, cpu, 1.0, shape);
            case NORM_BIAS:
                return Tensors.zeros(dtype, cpu, shape);
            case LAYER_SCALE:
                return Tensors.full(dtype, cpu, 0.1, shape);
            default:
                break;
        }
        double std;
        switch (spec.init()) {
            case LINEAR:
                std = 1.0 / Math.sqrt(shape[shape.length - 1]);
                break;
            case CONV: {
                long fanIn = 1;
                for (int i = 1; i < shape.length; i++) fanIn *= shape[i];
                std = 1.0 / Math.sqrt(fanIn);
                break;
            }
            case BIAS:
                std = 0.02;
                break;
            case EMBEDDING:
                std = 1.0 / Math.sqrt(shape[shape.length - 1]);
                break;
            default:
                throw new IllegalStateException("no initialiser for " + spec.init());
        }
        Tensor normal = torch.randn(shape, new GeneratorOptional(generator), Tensors.options(ScalarType.Float, cpu));
        return normal.mul(new Scalar(std)).to(dtype);
    }
}
