// VT_HD marks the arithmetic shared verbatim by the CPU and CUDA kernels (core/budget.hpp,
// core/normalize.hpp): __host__ __device__ under nvcc, nothing for the host compiler.
#pragma once

#if defined(__CUDACC__)
#define VT_HD __host__ __device__
#else
#define VT_HD
#endif
