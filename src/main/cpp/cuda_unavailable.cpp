// The CUDA backend of a library built without nvcc: it reports no devices, and the entry
// points (api.cpp) answer VT_ERR_CUDA_UNAVAILABLE before any of the op functions is reached.
#include "core/error.hpp"
#include "core/ops.hpp"

namespace vt::cuda {

namespace {
[[noreturn]] void unavailable() { throw Error(VT_ERR_CUDA_UNAVAILABLE, "this libvtprune was built without CUDA"); }
}  // namespace

bool compiled() { return false; }
int32_t device_count() { return 0; }
void synchronize(const Launch&) { unavailable(); }

void region_budget(const RegionBudgetArgs&, const Launch&) { unavailable(); }
void fused_topk(const FusedTopkArgs&, const Launch&) { unavailable(); }
void rollout(const RolloutArgs&, const Launch&) { unavailable(); }
void rollout_matrix(const RolloutMatrixArgs&, const Launch&) { unavailable(); }
void rollout_qk(const RolloutQkArgs&, const Launch&) { unavailable(); }
void text_relevance(const TextRelevanceArgs&, const Launch&) { unavailable(); }
void text_relevance_qk(const TextRelevanceQkArgs&, const Launch&) { unavailable(); }
void cls_saliency(const ClsSaliencyArgs&, const Launch&) { unavailable(); }
void cls_saliency_qk(const ClsSaliencyQkArgs&, const Launch&) { unavailable(); }

}  // namespace vt::cuda
