/**
 * One class per native op family (design §3): K1 {@link dev.vtprune.ops.RegionBudget}, K2
 * {@link dev.vtprune.ops.SegmentedTopK}, K3 {@link dev.vtprune.ops.Rollout}, K4
 * {@link dev.vtprune.ops.TextRelevance}, K5 {@link dev.vtprune.ops.ClsSaliency}. Each validates
 * its tensors (shape, dtype, device, contiguity, ranges; {@code IllegalArgumentException} naming
 * the argument, expected vs actual), dispatches to the native kernel or to the same computation
 * in LibTorch ops ({@link dev.vtprune.ops.Backend}), and turns a non-zero native status into a
 * {@link dev.vtprune.ops.VtpruneException}. Ragged batches are described by
 * {@link dev.vtprune.ops.TileLayout} and {@link dev.vtprune.ops.TextLayout}.
 *
 * <p>Uses only {@code nativelib}; {@link dev.vtprune.ops.NativeLibrary} loads it once.
 */
package dev.vtprune.ops;
