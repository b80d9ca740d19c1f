/**
 * The LibTorch modules of an LVLM — vision encoders (CLIP ViT, InternViT), the projector (pixel
 * shuffle + MLP), decoder LMs (Llama, Qwen2, InternLM2) with their KV caches and the probe that
 * exposes an early layer's Q/K — plus model configs (presets and Hugging Face
 * {@code config.json}), checkpoint layouts and loading, seeded random weights and FLOPs
 * accounting (design §5).
 *
 * <p>Uses {@code io} for tensors on disk and {@code ops} for shared tensor helpers; knows nothing
 * of pruning methods: the pipeline drives the modules and hands their outputs to a pruner.
 */
package dev.vtprune.model;
