package dev.vtprune.model;

import dev.vtprune.internal.Args;
import dev.vtprune.internal.Tensors;
import dev.vtprune.model.ParamSpec.Init;
import dev.vtprune.io.TensorSource;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The image side of CLIP's joint space for IVTP's eq. 6: {@code visual_projection(post_layernorm(cls))},
 * HF {@code CLIPModel}'s {@code image_embeds} formula, under its keys
 * ({@code vision_model.post_layernorm.*}, {@code visual_projection.weight}). LVLM checkpoints
 * drop both (LLaVA keeps only the tower's layers, InternViT has no joint space), so they come
 * from the CLIP checkpoint the text tower comes from (for the task model: trained beside it),
 * or seeded random for presets. {@link #apply} records the autograd graph under
 * {@link Training#enable()}.
 *
 * <p>Owns its weights ({@link #close()}).
 */
public final class ClipVisualHead implements AutoCloseable {
    private final Params params;
    private final LayerNorm norm;
    private final Linear projection;

    private ClipVisualHead(Params params, double eps) {
        this.params = params;
        norm = LayerNorm.of(params, "vision_model.post_layernorm", eps);
        projection = new Linear(params.get("visual_projection.weight"), null);
    }

    static List<ParamSpec> params(int visionHidden, int projection) {
        return List.of(new ParamSpec("vision_model.post_layernorm.weight", new long[] {visionHidden}, Init.NORM_WEIGHT,
                        "clip_visual", -1),
                new ParamSpec("vision_model.post_layernorm.bias", new long[] {visionHidden}, Init.NORM_BIAS, "clip_visual", -1),
                new ParamSpec("visual_projection.weight", new long[] {projection, visionHidden}, Init.LINEAR, "clip_visual",
                        -1));
    }

    /** Seeded random weights (as {@link RandomWeights} draws them); same arguments, same head. */
    public static ClipVisualHead random(int visionHidden, int projection, double eps, long seed, ScalarType dtype) {
        Args.atLeast(visionHidden, "visionHidden", 1);
        Args.atLeast(projection, "projection", 1);
        ScalarType type = RandomWeights.checkDtype(dtype);
        Generator generator = Scope.unscoped(() -> torch.createCPUGenerator(seed));
        try {
            return new ClipVisualHead(Params.build(params(visionHidden, projection),
                    s -> Scope.unscoped(() -> RandomWeights.draw(s, generator, type))), eps);
        } finally {
            generator.close();
        }
    }

    /**
     * The head from a CLIP checkpoint's tensors (its HF keys), shapes checked, converted to `dtype`.
     *
     * @param projection the joint space's width (the text tower's projection)
     */
    public static ClipVisualHead load(TensorSource source, int visionHidden, int projection, double eps, ScalarType dtype) {
        Args.notNull(source, "source");
        Args.atLeast(visionHidden, "visionHidden", 1);
        Args.atLeast(projection, "projection", 1);
        ScalarType type = RandomWeights.checkDtype(dtype);
        List<ParamSpec> specs = params(visionHidden, projection);
        for (ParamSpec s : specs) {
            if (!source.contains(s.name())) {
                throw new IllegalArgumentException("checkpoint " + source.describe() + " lacks '" + s.name()
                        + "' of CLIP's visual head");
            }
        }
        return new ClipVisualHead(Params.build(specs, s -> ClipTextModel.read(source, s, type)), eps);
    }

    /** The weights by HF key (read-only; owned by this head): a trainer marks them requires_grad. */
    public Map<String, Tensor> weights() {
        return params.view();
    }

    /** @param cls [visionHidden] or [N, visionHidden] CLS states @return the joint-space features, same leading shape */
    public Tensor apply(Tensor cls) {
        Args.defined(cls, "cls");
        Args.size(cls, "cls", (int) cls.dim() - 1, norm.weight().size(0), "the vision hidden width");
        try (Scope scope = Scope.noGrad()) {
            Tensor x = cls.to(norm.weight().device(), Tensors.scalarType(norm.weight()));
            return scope.keep(projection.apply(norm.apply(x)).contiguous());
        }
    }

    @Override
    public void close() {
        params.close();
    }
}
