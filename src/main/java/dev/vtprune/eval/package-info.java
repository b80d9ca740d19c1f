/**
 * Accuracy of a model on the task's held-out split, unpruned and for every pruning method and
 * keep ratio, with Wilson 95% intervals and the prefill FLOPs of each run, through the pipeline.
 *
 * <p>Uses {@code task}, {@code pipeline}, {@code prune} and {@code model}.
 */
package dev.vtprune.eval;
