/**
 * Training from Java with LibTorch autograd: a CLIP stage (the ViT's CLS against captions through
 * a small text tower) and instruction tuning with the LM loss on answer tokens, through the
 * project's own modules under {@code model.Training}; checkpoints in the InternVL2 layout the
 * loaders read.
 *
 * <p>Uses {@code task}, {@code model}, {@code pipeline} (with its image preprocessing) and {@code ops}.
 */
package dev.vtprune.train;
