package dev.vtprune.ops;

import dev.vtprune.internal.OpScope;
import dev.vtprune.internal.Tensors;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * int64 index arrays the kernels read (offsets, positions): host tensors for the CPU kernels,
 * copied once per CUDA device for the CUDA kernels. Owned by an immutable layout object; its
 * native memory outlives any caller PointerScope and is freed by close() or the GC.
 */
final class KernelArrays implements AutoCloseable {
    private final Tensor[] host;
    private final ConcurrentMap<Integer, Tensor[]> onDevice = new ConcurrentHashMap<>();

    KernelArrays(long[]... arrays) {
        host = new Tensor[arrays.length];
        for (int i = 0; i < arrays.length; i++) {
            long[] a = arrays[i];
            host[i] = OpScope.unscoped(() -> Tensor.create(a));
        }
    }

    /** The arrays as int64 tensors on `device`, in construction order. */
    Tensor[] on(Device device) {
        if (!device.is_cuda()) return host;
        return onDevice.computeIfAbsent((int) device.index(), index -> {
            Tensor[] copies = new Tensor[host.length];
            for (int i = 0; i < host.length; i++) {
                Tensor h = host[i];
                copies[i] = OpScope.unscoped(() -> h.to(device, ScalarType.Long));
            }
            return copies;
        });
    }

    @Override
    public void close() {
        Tensors.closeAll(host);
        onDevice.values().forEach(Tensors::closeAll);
        onDevice.clear();
    }
}
