// CUDA availability and stream synchronisation.
#include "common.cuh"

namespace vt::cuda {

bool compiled() { return true; }

int32_t device_count() {
    // cudaGetDeviceCount fails (cudaErrorInsufficientDriver / NoDevice) without a driver or a
    // GPU: that means "no devices", never an error. The runtime is static, so this cannot fail
    // to load.
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky-free error so later calls start clean
        return 0;
    }
    return count;
}

void synchronize(const Launch& at) {
    DeviceScope scope(at.device, "vt_synchronize");
    check(cudaStreamSynchronize(stream_of(at)), "vt_synchronize", "cudaStreamSynchronize");
}

}  // namespace vt::cuda
