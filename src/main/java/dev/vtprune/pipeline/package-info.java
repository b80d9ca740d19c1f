/**
 * The LVLM forward with pruning hooks (design §4): dynamic tiling and preprocessing
 * ({@code pipeline.image}), the ViT, the projector, an optional LM probe, the pruner, the gather
 * and the LM prefill, with per-stage timings; the tokenizers and prompt templates that turn a
 * question into the LM's input ids.
 *
 * <p>Uses {@code model} for the modules, {@code prune} for the methods and {@code ops} for the
 * layouts; knows nothing of the command line.
 */
package dev.vtprune.pipeline;
