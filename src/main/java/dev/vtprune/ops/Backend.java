package dev.vtprune.ops;

/** Which implementation of an op runs. */
public enum Backend {
    /** Our kernels: the C++ CPU code or the CUDA code, by the tensors' device. */
    NATIVE,
    /**
     * The same computation written as plain LibTorch tensor ops, as a user would write it
     * without this library: the test oracle and the benchmark baseline.
     */
    LIBTORCH
}
