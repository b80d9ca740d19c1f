package dev.vtprune.ops;

import dev.vtprune.internal.Tensors;
import dev.vtprune.internal.Args;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Where a native op runs: device -1 is the CPU; device >= 0 is that CUDA device, with the work
 * enqueued on LibTorch's current stream for it, so that it is ordered with the LibTorch ops
 * around it exactly as a LibTorch op would be.
 */
record Exec(int device, long stream) {
    static final Exec CPU = new Exec(-1, 0L);

    boolean isCpu() {
        return device < 0;
    }

    static Exec of(Tensor t, String name) {
        if (t.is_cpu()) return CPU;
        if (t.is_cuda()) {
            int index = Tensors.deviceOf(t).index();
            if (NativeLibrary.cudaDeviceCount() <= index) {
                throw new VtpruneException(VtpruneException.Status.CUDA_UNAVAILABLE, "argument '" + name
                        + "' is on cuda:" + index + ", but libvtprune sees " + NativeLibrary.cudaDeviceCount()
                        + " CUDA device(s)" + (NativeLibrary.cudaCompiled() ? "" : " (built without CUDA)"));
            }
            // Only reached when LibTorch's CUDA natives are loaded (the tensor lives on a GPU).
            long stream = torch_cuda.getCurrentCUDAStream((byte) index).stream().address();
            return new Exec(index, stream);
        }
        throw Args.error(name, "be on the CPU or a CUDA device", Tensors.describe(t));
    }
}
