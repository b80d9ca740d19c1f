package dev.vtprune.testing;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vtprune.ops.NativeLibrary;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/**
 * GPU tests run when a CUDA device is usable by both libvtprune and LibTorch and are skipped
 * otherwise; with -Dvtprune.requireGpu=true a missing GPU fails the test instead of skipping it
 * (for machines that are supposed to have one).
 */
public final class Gpu {
    private Gpu() {}

    public static boolean available() {
        if (NativeLibrary.cudaDeviceCount() == 0) return false;
        try {
            return torch.cuda_is_available();
        } catch (Throwable e) {  // LibTorch CPU natives only
            return false;
        }
    }

    /** Skips (or, when a GPU is required, fails) the calling test if no GPU is usable. */
    public static Device require() {
        boolean ok = available();
        if (!ok && Boolean.getBoolean("vtprune.requireGpu")) {
            fail("vtprune.requireGpu is set but no CUDA device is usable (libvtprune sees "
                    + NativeLibrary.cudaDeviceCount() + ", CUDA compiled: " + NativeLibrary.cudaCompiled() + ")");
        }
        assumeTrue(ok, "no CUDA device: GPU test skipped");
        return new Device(torch.DeviceType.CUDA, (byte) 0);
    }
}
