// Internal interface between the entry points (api.cpp) and the two backends.
//
// Each op family has one argument struct, filled and checked once in api.cpp, and one
// function per backend: cpu::<op>(args) in src/main/cpp/cpu/<op>.cpp and
// cuda::<op>(args, Launch) in src/main/cuda/<op>.cu (or the stubs of cuda_unavailable.cpp when
// the library is built without nvcc). The meaning of every field is the header's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vtprune/vtprune.h"

namespace vt {

struct RegionBudgetArgs {
    const void* cls;
    int32_t dtype;
    int64_t num_tiles, dim;
    const int64_t* tile_offsets;
    int64_t num_images;
    const int64_t* token_offsets;
    double keep_ratio, temperature;
    int64_t min_per_tile;
    float* scores;
    float* weights;
    int64_t* budgets;
};

struct FusedTopkArgs {
    const void* bottom_up;
    const void* instruction;  // may be null
    int32_t dtype;
    const int64_t* token_offsets;
    int64_t num_tiles;
    const int64_t* budgets;
    float alpha;
    bool normalize;
    float* fused;  // may be null
    int64_t* kept;
    int64_t* kept_per_tile;
};

struct RolloutArgs {
    const void* const* layers;  // host array of num_layers device/host pointers
    int32_t dtype;
    int64_t num_layers, num_seqs, heads, tokens;
    int32_t mode;
    const void* values;  // may be null
    int64_t value_dim;
    void* workspace;
    size_t workspace_bytes;
    float* cls_row;
    float* importance;
};

struct RolloutMatrixArgs {
    const void* const* layers;
    int32_t dtype;
    int64_t num_layers, num_seqs, heads, tokens;
    int32_t mode;
    void* workspace;
    size_t workspace_bytes;
    float* matrix;
};

struct RolloutQkArgs {
    const void* const* q_layers;
    const void* const* k_layers;
    int32_t dtype;
    int64_t num_layers, num_seqs, heads, tokens, head_dim;
    int64_t seq_stride, head_stride, token_stride;
    float scale;
    int32_t mode;
    const void* values;
    int64_t value_dim;
    void* workspace;
    size_t workspace_bytes;
    float* cls_row;
    float* importance;
};

struct TextRelevanceArgs {
    const void* attn;
    int32_t dtype;
    int64_t heads;
    const int64_t* query_offsets;
    const int64_t* visual_offsets;
    int64_t num_images;
    int32_t head_reduce, text_reduce;
    float* out;
};

struct TextRelevanceQkArgs {
    const void* q;
    const void* k;
    int32_t dtype;
    int64_t q_heads, kv_heads, head_dim;
    int64_t q_head_stride, q_token_stride, k_head_stride, k_token_stride;
    const int64_t* query_offsets;
    const int64_t* key_offsets;
    const int64_t* query_pos;
    const int64_t* visual_offsets;
    const int64_t* visual_pos;
    int64_t num_images, total_queries;
    float scale;
    int32_t head_reduce, text_reduce;
    void* workspace;
    size_t workspace_bytes;
    float* out;
};

struct ClsSaliencyArgs {
    const void* attn;
    int32_t dtype;
    int64_t num_tiles, heads, row_len, first_patch, grid, merge;
    int32_t head_reduce;
    float* out;
};

struct ClsSaliencyQkArgs {
    const void* q_cls;
    const void* k;
    int32_t dtype;
    int64_t num_tiles, heads, keys, head_dim;
    int64_t q_tile_stride, q_head_stride, k_tile_stride, k_head_stride, k_token_stride;
    int64_t first_patch, grid, merge;
    float scale;
    int32_t head_reduce;
    float* out;
};

namespace cpu {
void region_budget(const RegionBudgetArgs& a);
void fused_topk(const FusedTopkArgs& a);
void rollout(const RolloutArgs& a);
void rollout_matrix(const RolloutMatrixArgs& a);
void rollout_qk(const RolloutQkArgs& a);
void text_relevance(const TextRelevanceArgs& a);
void text_relevance_qk(const TextRelevanceQkArgs& a);
void cls_saliency(const ClsSaliencyArgs& a);
void cls_saliency_qk(const ClsSaliencyQkArgs& a);
}  // namespace cpu

namespace cuda {
// Where a CUDA op runs; the op enqueues on `stream` and does not synchronise.
struct Launch {
    int32_t device;
    void* stream;
};

bool compiled();
int32_t device_count();
void synchronize(const Launch& at);

void region_budget(const RegionBudgetArgs& a, const Launch& at);
void fused_topk(const FusedTopkArgs& a, const Launch& at);
void rollout(const RolloutArgs& a, const Launch& at);
void rollout_matrix(const RolloutMatrixArgs& a, const Launch& at);
void rollout_qk(const RolloutQkArgs& a, const Launch& at);
void text_relevance(const TextRelevanceArgs& a, const Launch& at);
void text_relevance_qk(const TextRelevanceQkArgs& a, const Launch& at);
void cls_saliency(const ClsSaliencyArgs& a, const Launch& at);
void cls_saliency_qk(const ClsSaliencyQkArgs& a, const Launch& at);
}  // namespace cuda

}  // namespace vt
