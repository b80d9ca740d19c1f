/**
 * Pruning methods: PTP ({@link dev.vtprune.prune.PyramidTokenPruner}) and the baselines of the
 * papers' tables (random, spatial, CLS top-k, FastV), all behind
 * {@link dev.vtprune.prune.TokenPruner}; their inputs ({@link dev.vtprune.prune.PruneInputs}) and
 * result ({@link dev.vtprune.prune.Selection}: kept indices, budgets, a gather), which the caller
 * closes.
 *
 * <p>Uses only {@code ops}: a method is a composition of op calls over tensors, independent of
 * any model code, so it prunes tensors from any source (the pipeline, a dump, a Python run).
 */
package dev.vtprune.prune;
