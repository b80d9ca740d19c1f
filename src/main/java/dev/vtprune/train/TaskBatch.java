package dev.vtprune.train;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.pipeline.PromptTemplate;
import dev.vtprune.pipeline.image.DynamicTiler;
import dev.vtprune.pipeline.image.Preprocessor;
import dev.vtprune.pipeline.image.Tiling;
import dev.vtprune.task.Question;
import dev.vtprune.task.Renderer;
import dev.vtprune.task.VqaTask;
import dev.vtprune.task.WordTokenizer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Task samples as model inputs, exactly as the inference pipeline builds them: rendered,
 * tiled by the model's {@link DynamicTiler}, normalised by its {@link Preprocessor}; each
 * question laid out by the InternVL chat template around the image's visual tokens.
 *
 * @param pixels    float32 [images * views, 3, S, S], views of an image consecutive
 * @param views     views per image (all task images have the same size, so the same tiling)
 * @param tilings   per image
 * @param captions  per view, image by image: the objects it shows ("nothing" for none)
 * @param layouts   per question
 * @param imageOf   per question, its image
 * @param answers   per question, the answer's token id
 * @param questions per question
 * @param ground    per visual token of every view (views of an image consecutive, tokens
 *                  row-major as the projector emits them), the grounding class of what it shows:
 *                  0 nothing, else {@link #groundClass} of the object of
 *                  {@link dev.vtprune.task.Scene#cellObjects}
 */
record TaskBatch(Tensor pixels, int views, List<Tiling> tilings, List<String> captions, List<PromptTemplate.Layout> layouts,
                 long[] imageOf, long[] answers, List<Question> questions, long[] ground) {

    /** Grounding classes: nothing, and one per (colour, shape). */
    static final int GROUND_CLASSES = 1 + dev.vtprune.task.Colour.values().length * dev.vtprune.task.Shape.values().length;

    static int groundClass(dev.vtprune.task.SceneObject o) {
        return 1 + o.colour().ordinal() * dev.vtprune.task.Shape.values().length + o.shape().ordinal();
    }


    static TaskBatch of(List<VqaTask.Sample> samples, ModelConfig config, WordTokenizer tok) {
        DynamicTiler tiler = DynamicTiler.forModel(config);
        Preprocessor pre = Preprocessor.forModel(config);
        int visual = -1, views = -1;
        TensorVector parts = new TensorVector();
        List<Tiling> tilings = new ArrayList<>();
        List<String> captions = new ArrayList<>();
        List<PromptTemplate.Layout> layouts = new ArrayList<>();
        List<Question> questions = new ArrayList<>();
        List<Long> imageOf = new ArrayList<>(), answers = new ArrayList<>(), ground = new ArrayList<>();
        int side = config.vision().imageSize() / config.vision().patchSize() / config.vision().merge();
        for (int b = 0; b < samples.size(); b++) {
            VqaTask.Sample s = samples.get(b);
            Tiling t = tiler.tile(Renderer.render(s.scene()));
            if (views < 0) {
                views = t.size();
                visual = config.visualTokens(t.localTiles());
            } else if (t.size() != views) {
                throw new IllegalArgumentException("argument 'samples': images tile differently (" + views + " vs "
                        + t.size() + " views)");
            }
            tilings.add(t);
            parts.push_back(pre.tensor(t));
            for (Tiling.Region r : t.regions()) {
                captions.add(s.scene().caption(r.x(), r.y(), r.width(), r.height()));
                for (int i : s.scene().cellObjects(r.x(), r.y(), r.width(), r.height(), side)) {
                    ground.add(i < 0 ? 0L : groundClass(s.scene().objects().get(i)));
                }
            }
            for (Question q : s.questions()) {
                layouts.add(PromptTemplate.INTERNVL.layout(tok, visual, q.text()));
                imageOf.add((long) b);
                answers.add((long) tok.id(q.answer()));
                questions.add(q);
            }
        }
        return new TaskBatch(torch.cat(parts), views, tilings, captions, layouts,
                imageOf.stream().mapToLong(Long::longValue).toArray(), answers.stream().mapToLong(Long::longValue).toArray(),
                questions, ground.stream().mapToLong(Long::longValue).toArray());
    }

    /** Samples first .. first + n - 1 of `seed` taken modulo `pool`: a fixed set seen again and again. */
    static List<VqaTask.Sample> cycled(long seed, long first, int n, int perImage, int pool, Set<Question.Type> types) {
        List<VqaTask.Sample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(VqaTask.sample(seed, (first + i) % pool, perImage, types));
        return out;
    }

    /** Samples first .. first + n - 1 of `seed`, `perImage` questions each. */
    static List<VqaTask.Sample> samples(long seed, long first, int n, int perImage) {
        return samples(seed, first, n, perImage, EnumSet.allOf(Question.Type.class));
    }

    /** Samples first .. first + n - 1 of `seed`, up to `perImage` questions each of `types` only. */
    static List<VqaTask.Sample> samples(long seed, long first, int n, int perImage, Set<Question.Type> types) {
        List<VqaTask.Sample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(VqaTask.sample(seed, first + i, perImage, types));
        return out;
    }
}
