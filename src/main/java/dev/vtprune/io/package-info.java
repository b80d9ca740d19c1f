/**
 * Reading and writing named tensors: safetensors files ({@link dev.vtprune.io.SafetensorsFile},
 * {@link dev.vtprune.io.Safetensors#write}), Hugging Face checkpoints, single-file or sharded
 * ({@link dev.vtprune.io.SafetensorsCheckpoint}), and maps built in memory
 * ({@link dev.vtprune.io.MapTensorSource}), all behind {@link dev.vtprune.io.TensorSource}.
 *
 * <p>Conventions: a tensor returned by a load is a CPU tensor that owns its memory, independent
 * of the source (closing or deleting the file does not affect it); like every tensor JavaCPP
 * allocates, it joins the caller's PointerScope when one is open. Bad content or arguments are
 * IllegalArgumentExceptions whose message names the file or source, the tensor or entry, and
 * the expected and actual value; I/O failures are UncheckedIOExceptions naming the file (the
 * loads run behind an interface without checked exceptions, so the whole package is unchecked
 * for one way of handling them); use after close is an IllegalStateException.
 */
package dev.vtprune.io;
