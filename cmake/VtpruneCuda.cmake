# Decides whether the CUDA kernels are built (VTPRUNE_WITH_CUDA) and how.
include(CheckLanguage)

set(VTPRUNE_WITH_CUDA OFF)
if(NOT VTPRUNE_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(VTPRUNE_WITH_CUDA ON)
  elseif(VTPRUNE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "VTPRUNE_CUDA=ON but no CUDA compiler was found")
  else()
    message(STATUS "vtprune: nvcc not found, building the CPU kernels only")
  endif()
endif()

if(VTPRUNE_WITH_CUDA)
  # Ampere, Ada, Hopper as SASS, plus Hopper PTX for anything newer (JIT at load).
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual")
  endif()
  # The runtime is linked by hand below (static), not by CMake's default.
  set(CMAKE_CUDA_RUNTIME_LIBRARY None)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "vtprune: building CUDA kernels with nvcc ${CMAKE_CUDA_COMPILER_VERSION} for ${CMAKE_CUDA_ARCHITECTURES}")
endif()

function(vtprune_setup_cuda target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden -Xcompiler=-fPIC -lineinfo>)
  target_link_libraries(${target} PRIVATE CUDA::cudart_static)
  target_compile_definitions(${target} PRIVATE VTPRUNE_WITH_CUDA=1)
endfunction()
