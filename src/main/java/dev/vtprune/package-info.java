/**
 * The way in: {@link dev.vtprune.Vtprune#builder()} turns a model folder or a preset, a device,
 * a dtype and a pruning method into a {@link dev.vtprune.LoadedModel}, which runs images with
 * their prompts and owns everything it loaded.
 *
 * <p>Uses {@code model} (config, weights), {@code io} (checkpoints), {@code pipeline} (tokenizers,
 * templates, the forward) and {@code prune} (the methods); used by {@code cli}. Nothing below it
 * depends on it.
 */
package dev.vtprune;
