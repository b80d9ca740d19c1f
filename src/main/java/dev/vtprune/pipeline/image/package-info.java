/**
 * Images in and out: decoding ({@link dev.vtprune.pipeline.image.ImageLoader}), InternVL's
 * dynamic tiling and the resampling it needs, normalisation into pixel tensors
 * ({@link dev.vtprune.pipeline.image.Preprocessor}), the bundled sample image, and the overlay PNG
 * that shows which visual tokens a selection kept.
 *
 * <p>Uses {@code model} (the model's image geometry) and {@code ops}; independent of pruning.
 */
package dev.vtprune.pipeline.image;
