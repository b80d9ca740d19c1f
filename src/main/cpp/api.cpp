// The C entry points: host-side checks of what is cheap to check, then dispatch to the CPU
// or CUDA implementation. Every call runs inside vt::guard(), so no exception crosses the ABI.
#include <cfloat>
#include <algorithm>
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "core/budget.hpp"
#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "core/view.hpp"

using namespace vt;

namespace {

// The message is built only when the check fails: these checks run on every call, and
// formatting eagerly cost more than a small kernel (~2 us a call, measured).
#define VT_REQUIRE(ok, op, arg, ...)                                       \
    do {                                                                   \
        if (!(ok)) vt::invalid_argument(op, arg, vt::format(__VA_ARGS__)); \
    } while (0)

void require_ptr(const void* p, const char* op, const char* arg) {
    if (p == nullptr) invalid_argument(op, arg, "must not be NULL");
}

void require_at_least(int64_t v, int64_t lo, const char* op, const char* arg) {
    VT_REQUIRE(v >= lo, op, arg, "must be >= %lld, got %lld", static_cast<long long>(lo), static_cast<long long>(v));
}

void require_reduce(int32_t mode, const char* op, const char* arg) {
    VT_REQUIRE(mode == VT_REDUCE_MEAN || mode == VT_REDUCE_MAX, op, arg, "must be 0 (mean) or 1 (max), got %d", mode);
}

void require_rollout_mode(int32_t mode, const char* op) {
    VT_REQUIRE(mode == VT_ROLLOUT_IVTP || mode == VT_ROLLOUT_ABNAR, op, "mode", "must be 0 (ivtp) or 1 (abnar), got %d",
               mode);
}

// Offsets live in host memory on the CPU path, so there they are checked in full:
// off[0] == 0, non-decreasing, and (when `total` >= 0) off[count] == total.
void check_host_offsets(const int64_t* off, int64_t count, int64_t total, const char* op, const char* arg) {
    VT_REQUIRE(off[0] == 0, op, arg, "must start at 0, got %lld", static_cast<long long>(off[0]));
    for (int64_t i = 0; i < count; ++i) {
        VT_REQUIRE(off[i + 1] >= off[i], op, arg, "must be non-decreasing, but entry %lld (%lld) < entry %lld (%lld)",
                   static_cast<long long>(i + 1), static_cast<long long>(off[i + 1]), static_cast<long long>(i),
                   static_cast<long long>(off[i]));
    }
    if (total >= 0) {
        VT_REQUIRE(off[count] == total, op, arg, "must end at %lld, got %lld", static_cast<long long>(total),
                   static_cast<long long>(off[count]));
    }
}

void require_workspace(void* ws, size_t have, size_t need, const char* op) {
    VT_REQUIRE(have >= need, op, "workspace_bytes", "must be >= %zu (the *_workspace_bytes query), got %zu", need,
               have);
    if (need > 0) require_ptr(ws, op, "workspace");
}

// Runs the op on the CPU (device < 0) or on CUDA device `device`; call inside guard().
template <class CpuFn, class CudaFn>
void run_on(const char* op, int32_t device, void* stream, CpuFn&& on_cpu, CudaFn&& on_cuda) {
    if (device < 0) {
        on_cpu();
        return;
    }
    if (!cuda::compiled()) throw Error(VT_ERR_CUDA_UNAVAILABLE, format("%s: this libvtprune was built without CUDA", op));
    const int32_t count = cuda::device_count();
    if (device >= count) {
        throw Error(VT_ERR_CUDA_UNAVAILABLE,
                    format("%s: argument 'device' is CUDA device %d, but %d device(s) are usable", op, device, count));
    }
    on_cuda(cuda::Launch{device, stream});
}

template <class CpuFn, class CudaFn>
int32_t dispatch(const char* op, int32_t device, void* stream, CpuFn&& on_cpu, CudaFn&& on_cuda) {
    return guard(op, [&] { run_on(op, device, stream, on_cpu, on_cuda); });
}

// The ops that take views: check() validates the views and params (on the host, for both
// paths) and returns the call's device; then the op runs there.
template <class CheckFn, class CpuFn, class CudaFn>
int32_t dispatch_views(const char* op, void* stream, CheckFn&& check, CpuFn&& on_cpu, CudaFn&& on_cuda) {
    return guard(op, [&] { run_on(op, check(), stream, on_cpu, on_cuda); });
}

}  // namespace

extern "C" {

#ifndef VTPRUNE_VERSION_STRING
#error "VTPRUNE_VERSION_STRING is set by CMakeLists.txt from pom.xml's version"
#endif
VT_API const char* vt_version(void) {
    return VTPRUNE_VERSION_STRING;
}
VT_API int32_t vt_abi_version(void) {
#ifdef VT_ABI_VERSION_OVERRIDE  // test builds only: a library that disagrees with its header
    return VT_ABI_VERSION_OVERRIDE;
#else
    return VT_ABI_VERSION;
#endif
}
VT_API int32_t vt_cuda_compiled(void) {
    return cuda::compiled() ? 1 : 0;
}
VT_API int32_t vt_cuda_device_count(void) {
    return cuda::device_count();
}
VT_API int32_t vt_get_num_threads(void) {
    // The first call creates the pool, which can fail (memory, threads): 0, never an exception.
    int32_t threads = 0;
    guard("vt_get_num_threads", [&] { threads = num_threads(); });
    return threads;
}

VT_API int32_t vt_set_num_threads(int32_t threads) {
    return guard("vt_set_num_threads", [&] {
        VT_REQUIRE(threads >= 1 && threads <= kMaxThreads, "vt_set_num_threads", "threads",
                   "must be in [1, %d], got %d", kMaxThreads, threads);
        set_num_threads(threads);
    });
}

VT_API int32_t vt_synchronize(int32_t device, void* stream) {
    return dispatch(
        "vt_synchronize", device, stream, [] {}, [&](const cuda::Launch& at) { cuda::synchronize(at); });
}

/* ---- K1 ---- */
VT_API int32_t vt_region_budget(void* stream, const vt_tensor* cls, const vt_tensor* tile_offsets,
                                const vt_tensor* token_offsets, const vt_tensor* scores, const vt_tensor* weights,
                                const vt_tensor* budgets, const vt_region_budget_params* params) {
    constexpr const char* op = "vt_region_budget";
    RegionBudgetArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_tensor& c = v(cls, "cls", 2, "[num_tiles, dim]", kFloating);
        const vt_tensor& to = v(tile_offsets, "tile_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& ko = v(token_offsets, "token_offsets", 1, "[num_tiles + 1]", kI64);
        const vt_tensor& s = v(scores, "scores", 1, "[num_tiles]", kF32);
        const vt_tensor& w = v(weights, "weights", 1, "[num_tiles]", kF32);
        const vt_tensor& bu = v(budgets, "budgets", 1, "[num_tiles]", kI64);
        const vt_region_budget_params& p = v.params(params);
        const int64_t num_tiles = c.shape[0];
        VT_REQUIRE(to.shape[0] >= 2, op, "tile_offsets", "must have >= 2 entries (num_images + 1, num_images >= 1), got %lld",
                   static_cast<long long>(to.shape[0]));
        const int64_t num_images = to.shape[0] - 1;
        require_at_least(num_tiles, num_images, op, "cls.shape[0] (num_tiles)");
        require_at_least(c.shape[1], 1, op, "cls.shape[1] (dim)");
        v.dim(ko, "token_offsets", 0, num_tiles + 1, "num_tiles + 1, cls.shape[0] + 1");
        v.dim(s, "scores", 0, num_tiles, "num_tiles, cls.shape[0]");
        v.dim(w, "weights", 0, num_tiles, "num_tiles, cls.shape[0]");
        v.dim(bu, "budgets", 0, num_tiles, "num_tiles, cls.shape[0]");
        VT_REQUIRE(p.keep_ratio >= 0.0 && p.keep_ratio <= 1.0, op, "keep_ratio", "must be in [0, 1], got %g",
                   p.keep_ratio);
        // A subnormal temperature makes cosine / temperature infinite and the weights NaN.
        VT_REQUIRE(p.temperature >= DBL_MIN && std::isfinite(p.temperature), op, "temperature",
                   "must be finite and >= %g (the smallest normal double), got %g", DBL_MIN, p.temperature);
        require_at_least(p.min_per_tile, 0, op, "min_per_tile");
        a = RegionBudgetArgs{c.data,
                             c.dtype,
                             num_tiles,
                             c.shape[1],
                             static_cast<const int64_t*>(to.data),
                             num_images,
                             static_cast<const int64_t*>(ko.data),
                             p.keep_ratio,
                             p.temperature,
                             p.min_per_tile,
                             static_cast<float*>(s.data),
                             static_cast<float*>(w.data),
                             static_cast<int64_t*>(bu.data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check,
        [&] {
            check_host_offsets(a.tile_offsets, a.num_images, a.num_tiles, op, "tile_offsets");
            check_host_offsets(a.token_offsets, a.num_tiles, -1, op, "token_offsets");
            for (int64_t b = 0; b < a.num_images; ++b) {
                const int64_t tiles = a.tile_offsets[b + 1] - a.tile_offsets[b];
                VT_REQUIRE(tiles >= 1 && tiles - 1 <= kMaxLocalTiles, op, "tile_offsets",
                           "must give every image 1 to %lld tiles (local tiles + thumbnail), image %lld has %lld",
                           static_cast<long long>(kMaxLocalTiles + 1), static_cast<long long>(b),
                           static_cast<long long>(tiles));
            }
            cpu::region_budget(a);
        },
        [&](const cuda::Launch& at) { cuda::region_budget(a, at); });
}

/* ---- K2 ---- */
VT_API int32_t vt_fused_topk(void* stream, const vt_tensor* bottom_up, const vt_tensor* instruction,
                             const vt_tensor* token_offsets, const vt_tensor* budgets, const vt_tensor* fused,
                             const vt_tensor* kept, const vt_tensor* kept_per_tile, const vt_fused_topk_params* params) {
    constexpr const char* op = "vt_fused_topk";
    FusedTopkArgs a{};
    int64_t tokens = 0;
    auto check = [&] {
        Views v(op);
        const vt_tensor& b = v(bottom_up, "bottom_up", 1, "[N]", kFloating);
        const vt_tensor* c = v.optional(instruction, "instruction", 1, "[N]", kFloating);
        const vt_tensor& off = v(token_offsets, "token_offsets", 1, "[num_tiles + 1]", kI64);
        const vt_tensor& bud = v(budgets, "budgets", 1, "[num_tiles]", kI64);
        const vt_tensor* f = v.optional(fused, "fused", 1, "[N]", kF32);
        const vt_tensor& k = v(kept, "kept", 1, "[N]", kI64);
        const vt_tensor& per = v(kept_per_tile, "kept_per_tile", 1, "[num_tiles]", kI64);
        const vt_fused_topk_params& p = v.params(params);
        tokens = b.shape[0];
        VT_REQUIRE(off.shape[0] >= 1, op, "token_offsets", "must have >= 1 entry (num_tiles + 1), got %lld",
                   static_cast<long long>(off.shape[0]));
        const int64_t num_tiles = off.shape[0] - 1;
        if (c) {
            v.same_dtype(*c, "instruction", b, "bottom_up");
            v.dim(*c, "instruction", 0, tokens, "N, bottom_up.shape[0]");
        }
        v.dim(bud, "budgets", 0, num_tiles, "num_tiles, token_offsets.shape[0] - 1");
        if (f) v.dim(*f, "fused", 0, tokens, "N, bottom_up.shape[0]");
        v.dim(k, "kept", 0, tokens, "N, bottom_up.shape[0]");
        v.dim(per, "kept_per_tile", 0, num_tiles, "num_tiles, token_offsets.shape[0] - 1");
        VT_REQUIRE(p.alpha >= 0.0f && p.alpha <= 1.0f, op, "alpha", "must be in [0, 1], got %g", double(p.alpha));
        VT_REQUIRE(c != nullptr || p.alpha == 0.0f, op, "instruction", "must not be NULL when alpha != 0 (alpha = %g)",
                   double(p.alpha));
        VT_REQUIRE(p.normalize == 0 || p.normalize == 1, op, "normalize", "must be 0 or 1, got %d", p.normalize);
        a = FusedTopkArgs{b.data,
                          c ? c->data : nullptr,
                          b.dtype,
                          static_cast<const int64_t*>(off.data),
                          num_tiles,
                          static_cast<const int64_t*>(bud.data),
                          p.alpha,
                          p.normalize != 0,
                          f ? static_cast<float*>(f->data) : nullptr,
                          static_cast<int64_t*>(k.data),
                          static_cast<int64_t*>(per.data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check,
        [&] {
            check_host_offsets(a.token_offsets, a.num_tiles, tokens, op, "token_offsets");
            cpu::fused_topk(a);
        },
        [&](const cuda::Launch& at) { cuda::fused_topk(a, at); });
}

/* ---- K3 ---- */
namespace {
// The layer lists of K3: `count` views from `views`, each checked (rank 4, `dims`, `layout`) and
// of the shape and dtype of `reference` (default: views[0]); strided layers must share its
// strides too. Returns the host array of their data pointers the kernels take. The messages name
// "layers[l]": those names live in `names`, a deque so that the ones already handed to `v` stay
// put as it grows.
std::vector<const void*> check_layers(Views& v, const char* op, const vt_tensor* views, int64_t count,
                                      const char* name, const char* dims, Layout layout, const vt_tensor* reference,
                                      const char* reference_name, std::deque<std::string>& names) {
    if (views == nullptr) invalid_argument(op, name, "must not be NULL (a host array of vt_tensor views)");
    std::vector<const void*> data;
    for (int64_t l = 0; l < count; ++l) {
        names.push_back(format("%s[%lld]", name, static_cast<long long>(l)));
        const char* n = names.back().c_str();
        const vt_tensor& t = v(&views[l], n, 4, dims, kFloating, layout);
        const vt_tensor& ref = reference ? *reference : views[0];
        const char* ref_name = reference ? reference_name : names[names.size() - 1 - static_cast<size_t>(l)].c_str();
        // (views[0] is checked first, at l = 0, before it serves as the reference)
        v.same_dtype(t, n, ref, ref_name);
        for (int d = 0; d < 4; ++d) v.dim(t, n, d, ref.shape[d], ref_name);
        if (layout == Layout::Strided) {
            for (int d = 0; d < 3; ++d) {
                VT_REQUIRE(t.strides[d] == ref.strides[d], op, n,
                           "must have the strides of '%s' [%lld, %lld, %lld, %lld] (the kernel takes one layout), "
                           "got [%lld, %lld, %lld, %lld]",
                           ref_name, static_cast<long long>(ref.strides[0]), static_cast<long long>(ref.strides[1]),
                           static_cast<long long>(ref.strides[2]), static_cast<long long>(ref.strides[3]),
                           static_cast<long long>(t.strides[0]), static_cast<long long>(t.strides[1]),
                           static_cast<long long>(t.strides[2]), static_cast<long long>(t.strides[3]));
            }
        }
        data.push_back(t.data);
    }
    return data;
}

// num_seqs, heads and tokens of a layer view: each >= 1, tokens >= 2.
void check_rollout_sizes(const char* op, const vt_tensor& layer, const char* name) {
    require_at_least(layer.shape[0], 1, op, format("%s.shape[0] (num_seqs)", name).c_str());
    require_at_least(layer.shape[1], 1, op, format("%s.shape[1] (heads)", name).c_str());
    require_at_least(layer.shape[2], 2, op, format("%s.shape[2] (tokens)", name).c_str());
    // Row statistics of [S, H, M] (a strided Q/K layer can span far fewer elements).
    checked_elements({layer.shape[0], layer.shape[1], layer.shape[2]}, op, name);
}

// values [S, M, value_dim] (optional) and the outputs cls_row [S, M], importance [S, M - 1].
void check_rollout_outputs(Views& v, const char* op, const vt_tensor& layer, const vt_tensor* values, const vt_tensor* cls_row,
                           const vt_tensor* importance, const char* layer_name, const vt_tensor** values_out) {
    const int64_t seqs = layer.shape[0], tokens = layer.shape[2];
    const vt_tensor* val = v.optional(values, "values", 3, "[num_seqs, tokens, value_dim]", kFloating);
    if (val) {
        v.same_dtype(*val, "values", layer, layer_name);
        v.dim(*val, "values", 0, seqs, "num_seqs");
        v.dim(*val, "values", 1, tokens, "tokens");
        require_at_least(val->shape[2], 1, op, "values.shape[2] (value_dim)");
    }
    const vt_tensor& c = v(cls_row, "cls_row", 2, "[num_seqs, tokens]", kF32);
    v.dim(c, "cls_row", 0, seqs, "num_seqs");
    v.dim(c, "cls_row", 1, tokens, "tokens");
    const vt_tensor& i = v(importance, "importance", 2, "[num_seqs, tokens - 1]", kF32);
    v.dim(i, "importance", 0, seqs, "num_seqs");
    v.dim(i, "importance", 1, tokens - 1, "tokens - 1");
    *values_out = val;
}

// The params and the layer list of the probability forms (vt_rollout, vt_rollout_matrix):
// fills `data`, returns layers[0], whose sizes are checked and whose last two axes are square.
const vt_tensor& check_probability_layers(Views& v, const char* op, const vt_tensor* layers,
                                          const vt_rollout_params& p, std::vector<const void*>& data,
                                          std::deque<std::string>& names) {
    require_at_least(p.num_layers, 1, op, "num_layers");
    require_rollout_mode(p.mode, op);
    data = check_layers(v, op, layers, p.num_layers, "layers", "[num_seqs, heads, tokens, tokens]", Layout::Contiguous,
                        nullptr, nullptr, names);
    const vt_tensor& first = layers[0];
    check_rollout_sizes(op, first, "layers[0]");
    v.dim(first, "layers[0]", 3, first.shape[2], "tokens, layers[0].shape[2]");
    return first;
}

// A layer view the workspace queries can size: on a CUDA device, rank 4, sizes >= 1.
bool sizable_device_layer(const vt_tensor* t) {
    return t != nullptr && t->device >= 0 && t->ndim == 4 && t->shape[0] >= 1 && t->shape[1] >= 1 && t->shape[2] >= 1;
}
}  // namespace

VT_API size_t vt_rollout_workspace_bytes(const vt_tensor* layer) {
    return sizable_device_layer(layer) ? workspace::rollout(layer->shape[0], layer->shape[2]) : 0;
}

VT_API int32_t vt_rollout(void* stream, const vt_tensor* layers, const vt_tensor* values, const vt_tensor* cls_row,
                          const vt_tensor* importance, const vt_rollout_params* params, void* workspace,
                          size_t workspace_bytes) {
    constexpr const char* op = "vt_rollout";
    std::vector<const void*> data;
    std::deque<std::string> names;
    RolloutArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_rollout_params& p = v.params(params);
        const vt_tensor& first = check_probability_layers(v, op, layers, p, data, names);
        const vt_tensor* val = nullptr;
        check_rollout_outputs(v, op, first, values, cls_row, importance, "layers[0]", &val);
        a = RolloutArgs{data.data(),
                        first.dtype,
                        p.num_layers,
                        first.shape[0],
                        first.shape[1],
                        first.shape[2],
                        p.mode,
                        val ? val->data : nullptr,
                        val ? val->shape[2] : 0,
                        workspace,
                        workspace_bytes,
                        static_cast<float*>(cls_row->data),
                        static_cast<float*>(importance->data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check, [&] { cpu::rollout(a); },
        [&](const cuda::Launch& at) {
            require_workspace(workspace, workspace_bytes, workspace::rollout(a.num_seqs, a.tokens), op);
            cuda::rollout(a, at);
        });
}

VT_API size_t vt_rollout_matrix_workspace_bytes(const vt_tensor* layer) {
    return sizable_device_layer(layer) ? workspace::rollout_matrix(layer->shape[0], layer->shape[2]) : 0;
}

VT_API int32_t vt_rollout_matrix(void* stream, const vt_tensor* layers, const vt_tensor* matrix,
                                 const vt_rollout_params* params, void* workspace, size_t workspace_bytes) {
    constexpr const char* op = "vt_rollout_matrix";
    std::vector<const void*> data;
    std::deque<std::string> names;
    RolloutMatrixArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_rollout_params& p = v.params(params);
        const vt_tensor& first = check_probability_layers(v, op, layers, p, data, names);
        const vt_tensor& m = v(matrix, "matrix", 3, "[num_seqs, tokens, tokens]", kF32);
        v.dim(m, "matrix", 0, first.shape[0], "num_seqs");
        v.dim(m, "matrix", 1, first.shape[2], "tokens");
        v.dim(m, "matrix", 2, first.shape[2], "tokens");
        a = RolloutMatrixArgs{data.data(),    first.dtype,    p.num_layers, first.shape[0], first.shape[1],
                              first.shape[2], p.mode,         workspace,    workspace_bytes, static_cast<float*>(m.data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check, [&] { cpu::rollout_matrix(a); },
        [&](const cuda::Launch& at) {
            require_workspace(workspace, workspace_bytes, workspace::rollout_matrix(a.num_seqs, a.tokens), op);
            cuda::rollout_matrix(a, at);
        });
}

VT_API size_t vt_rollout_qk_workspace_bytes(const vt_tensor* q_layer) {
    return sizable_device_layer(q_layer) ? workspace::rollout_qk(q_layer->shape[0], q_layer->shape[1], q_layer->shape[2])
                                         : 0;
}

VT_API int32_t vt_rollout_qk(void* stream, const vt_tensor* q_layers, const vt_tensor* k_layers,
                             const vt_tensor* values, const vt_tensor* cls_row, const vt_tensor* importance,
                             const vt_rollout_qk_params* params, void* workspace, size_t workspace_bytes) {
    constexpr const char* op = "vt_rollout_qk";
    std::vector<const void*> q_data, k_data;
    std::deque<std::string> names;
    RolloutQkArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_rollout_qk_params& p = v.params(params);
        require_at_least(p.num_layers, 1, op, "num_layers");
        require_rollout_mode(p.mode, op);
        VT_REQUIRE(std::isfinite(p.scale) && p.scale > 0.0f, op, "scale", "must be finite and > 0, got %g",
                   double(p.scale));
        const char* dims = "[num_seqs, heads, tokens, head_dim]";
        q_data = check_layers(v, op, q_layers, p.num_layers, "q_layers", dims, Layout::Strided, nullptr, nullptr, names);
        k_data = check_layers(v, op, k_layers, p.num_layers, "k_layers", dims, Layout::Strided, &q_layers[0],
                              "q_layers[0]", names);
        const vt_tensor& first = q_layers[0];
        check_rollout_sizes(op, first, "q_layers[0]");
        require_at_least(first.shape[3], 1, op, "q_layers[0].shape[3] (head_dim)");
        const vt_tensor* val = nullptr;
        check_rollout_outputs(v, op, first, values, cls_row, importance, "q_layers[0]", &val);
        a = RolloutQkArgs{q_data.data(),
                          k_data.data(),
                          first.dtype,
                          p.num_layers,
                          first.shape[0],
                          first.shape[1],
                          first.shape[2],
                          first.shape[3],
                          first.strides[0],
                          first.strides[1],
                          first.strides[2],
                          p.scale,
                          p.mode,
                          val ? val->data : nullptr,
                          val ? val->shape[2] : 0,
                          workspace,
                          workspace_bytes,
                          static_cast<float*>(cls_row->data),
                          static_cast<float*>(importance->data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check, [&] { cpu::rollout_qk(a); },
        [&](const cuda::Launch& at) {
            require_workspace(workspace, workspace_bytes, workspace::rollout_qk(a.num_seqs, a.heads, a.tokens), op);
            cuda::rollout_qk(a, at);
        });
}

/* ---- K4 ---- */
VT_API int32_t vt_text_relevance(void* stream, const vt_tensor* attn, const vt_tensor* query_offsets,
                                 const vt_tensor* visual_offsets, const vt_tensor* out,
                                 const vt_text_relevance_params* params) {
    constexpr const char* op = "vt_text_relevance";
    TextRelevanceArgs a{};
    int64_t attn_len = 0, out_len = 0;
    auto check = [&] {
        Views v(op);
        const vt_tensor& t = v(attn, "attn", 1, "[sum_b heads * Q_b * N_b]", kFloating);
        const vt_tensor& qo = v(query_offsets, "query_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& vo = v(visual_offsets, "visual_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& o = v(out, "out", 1, "[sum N_b]", kF32);
        const vt_text_relevance_params& p = v.params(params);
        VT_REQUIRE(qo.shape[0] >= 2, op, "query_offsets",
                   "must have >= 2 entries (num_images + 1, num_images >= 1), got %lld", static_cast<long long>(qo.shape[0]));
        const int64_t num_images = qo.shape[0] - 1;
        v.dim(vo, "visual_offsets", 0, num_images + 1, "num_images + 1, query_offsets.shape[0]");
        require_at_least(p.heads, 1, op, "heads");
        require_reduce(p.head_reduce, op, "head_reduce");
        require_reduce(p.text_reduce, op, "text_reduce");
        attn_len = t.shape[0];
        out_len = o.shape[0];
        a = TextRelevanceArgs{t.data,
                              t.dtype,
                              p.heads,
                              static_cast<const int64_t*>(qo.data),
                              static_cast<const int64_t*>(vo.data),
                              num_images,
                              p.head_reduce,
                              p.text_reduce,
                              static_cast<float*>(o.data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check,
        [&] {
            check_host_offsets(a.query_offsets, a.num_images, -1, op, "query_offsets");
            check_host_offsets(a.visual_offsets, a.num_images, out_len, op, "visual_offsets");
            int64_t attn_elements = 0;  // sum over images of heads * Q_b * N_b
            for (int64_t b = 0; b < a.num_images; ++b) {
                const int64_t block = checked_elements({a.heads, a.query_offsets[b + 1] - a.query_offsets[b],
                                                        a.visual_offsets[b + 1] - a.visual_offsets[b]},
                                                       op, "attn");
                attn_elements = checked_add(attn_elements, block, op, "attn", "the sum of heads * Q_b * N_b");
            }
            VT_REQUIRE(attn_elements == attn_len, op, "attn",
                       "must have shape[0] = %lld (the sum of heads * Q_b * N_b over the offsets), got %lld",
                       static_cast<long long>(attn_elements), static_cast<long long>(attn_len));
            cpu::text_relevance(a);
        },
        [&](const cuda::Launch& at) {
            // The offsets are device memory: the views' lengths cannot be checked against them,
            // so an empty view must still point somewhere (as before views).
            require_ptr(a.attn, op, "attn");
            require_ptr(a.out, op, "out");
            cuda::text_relevance(a, at);
        });
}

VT_API size_t vt_text_relevance_qk_workspace_bytes(const vt_tensor* q) {
    if (q == nullptr || q->device < 0 || q->ndim != 3 || q->shape[0] < 1 || q->shape[1] < 0) return 0;
    return workspace::text_relevance_qk(q->shape[0], q->shape[1]);
}

VT_API int32_t vt_text_relevance_qk(void* stream, const vt_tensor* q, const vt_tensor* k,
                                    const vt_tensor* query_offsets, const vt_tensor* key_offsets,
                                    const vt_tensor* query_pos, const vt_tensor* visual_offsets,
                                    const vt_tensor* visual_pos, const vt_tensor* out,
                                    const vt_text_relevance_qk_params* params, void* workspace,
                                    size_t workspace_bytes) {
    constexpr const char* op = "vt_text_relevance_qk";
    TextRelevanceQkArgs a{};
    int64_t total_keys = 0, total_visual = 0;
    auto check = [&] {
        Views v(op);
        const vt_tensor& qv = v(q, "q", 3, "[q_heads, total_queries, head_dim]", kFloating, Layout::Strided);
        const vt_tensor& kv = v(k, "k", 3, "[kv_heads, total_keys, head_dim]", kFloating, Layout::Strided);
        const vt_tensor& qo = v(query_offsets, "query_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& ko = v(key_offsets, "key_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& qp = v(query_pos, "query_pos", 1, "[total_queries]", kI64);
        const vt_tensor& vo = v(visual_offsets, "visual_offsets", 1, "[num_images + 1]", kI64);
        const vt_tensor& vp = v(visual_pos, "visual_pos", 1, "[total_visual]", kI64);
        const vt_tensor& o = v(out, "out", 1, "[total_visual]", kF32);
        const vt_text_relevance_qk_params& p = v.params(params);
        v.same_dtype(kv, "k", qv, "q");
        const int64_t q_heads = qv.shape[0], total_queries = qv.shape[1], head_dim = qv.shape[2];
        const int64_t kv_heads = kv.shape[0];
        total_keys = kv.shape[1];
        total_visual = vp.shape[0];
        VT_REQUIRE(qo.shape[0] >= 2, op, "query_offsets",
                   "must have >= 2 entries (num_images + 1, num_images >= 1), got %lld", static_cast<long long>(qo.shape[0]));
        const int64_t num_images = qo.shape[0] - 1;
        v.dim(ko, "key_offsets", 0, num_images + 1, "num_images + 1, query_offsets.shape[0]");
        v.dim(vo, "visual_offsets", 0, num_images + 1, "num_images + 1, query_offsets.shape[0]");
        v.dim(qp, "query_pos", 0, total_queries, "total_queries, q.shape[1]");
        v.dim(o, "out", 0, total_visual, "total_visual, visual_pos.shape[0]");
        require_at_least(q_heads, 1, op, "q.shape[0] (q_heads)");
        require_at_least(kv_heads, 1, op, "k.shape[0] (kv_heads)");
        VT_REQUIRE(q_heads % kv_heads == 0, op, "k", "must have shape[0] (kv_heads) dividing q_heads (%lld), got %lld",
                   static_cast<long long>(q_heads), static_cast<long long>(kv_heads));
        require_at_least(head_dim, 1, op, "q.shape[2] (head_dim)");
        v.dim(kv, "k", 2, head_dim, "head_dim, q.shape[2]");
        VT_REQUIRE(std::isfinite(p.scale) && p.scale > 0.0f, op, "scale", "must be finite and > 0, got %g",
                   double(p.scale));
        require_reduce(p.head_reduce, op, "head_reduce");
        require_reduce(p.text_reduce, op, "text_reduce");
        checked_elements({q_heads, total_queries}, op, "q");  // q_heads * total_queries row statistics
        a = TextRelevanceQkArgs{qv.data,
                                kv.data,
                                qv.dtype,
                                q_heads,
                                kv_heads,
                                head_dim,
                                qv.strides[0],
                                qv.strides[1],
                                kv.strides[0],
                                kv.strides[1],
                                static_cast<const int64_t*>(qo.data),
                                static_cast<const int64_t*>(ko.data),
                                static_cast<const int64_t*>(qp.data),
                                static_cast<const int64_t*>(vo.data),
                                static_cast<const int64_t*>(vp.data),
                                num_images,
                                total_queries,
                                p.scale,
                                p.head_reduce,
                                p.text_reduce,
                                workspace,
                                workspace_bytes,
                                static_cast<float*>(o.data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check,
        [&] {
            check_host_offsets(a.query_offsets, a.num_images, a.total_queries, op, "query_offsets");
            check_host_offsets(a.key_offsets, a.num_images, total_keys, op, "key_offsets");
            check_host_offsets(a.visual_offsets, a.num_images, total_visual, op, "visual_offsets");
            for (int64_t b = 0; b < a.num_images; ++b) {
                const int64_t keys = a.key_offsets[b + 1] - a.key_offsets[b];
                for (int64_t r = a.query_offsets[b]; r < a.query_offsets[b + 1]; ++r) {
                    VT_REQUIRE(a.query_pos[r] >= 0 && a.query_pos[r] < keys, op, "query_pos",
                               "entry %lld is %lld, outside image %lld's %lld keys", static_cast<long long>(r),
                               static_cast<long long>(a.query_pos[r]), static_cast<long long>(b),
                               static_cast<long long>(keys));
                }
                for (int64_t v = a.visual_offsets[b]; v < a.visual_offsets[b + 1]; ++v) {
                    VT_REQUIRE(a.visual_pos[v] >= 0 && a.visual_pos[v] < keys, op, "visual_pos",
                               "entry %lld is %lld, outside image %lld's %lld keys", static_cast<long long>(v),
                               static_cast<long long>(a.visual_pos[v]), static_cast<long long>(b),
                               static_cast<long long>(keys));
                }
            }
            cpu::text_relevance_qk(a);
        },
        [&](const cuda::Launch& at) {
            require_ptr(a.visual_pos, op, "visual_pos");  // (offsets in device memory: see vt_text_relevance)
            require_ptr(a.out, op, "out");
            require_workspace(workspace, workspace_bytes, workspace::text_relevance_qk(a.q_heads, a.total_queries), op);
            cuda::text_relevance_qk(a, at);
        });
}

/* ---- K5 ---- */
namespace {
// Checks grid, merge and first_patch; returns first_patch + grid^2, the end of the patches.
int64_t check_patches(const char* op, int64_t grid, int64_t merge, int64_t first_patch) {
    require_at_least(grid, 1, op, "grid");
    require_at_least(merge, 1, op, "merge");
    VT_REQUIRE(grid % merge == 0, op, "merge", "must divide grid (%lld), got %lld", static_cast<long long>(grid),
               static_cast<long long>(merge));
    require_at_least(first_patch, 0, op, "first_patch");
    const int64_t patches = checked_mul(grid, grid, op, "grid", "grid^2");
    return checked_add(first_patch, patches, op, "first_patch", "first_patch + grid^2");
}
}  // namespace

namespace {
// The out view [num_tiles, (grid/merge)^2] of both K5 forms (grid and merge already checked).
void check_saliency_out(Views& v, const vt_tensor* out, int64_t num_tiles, int64_t grid, int64_t merge) {
    const vt_tensor& o = v(out, "out", 2, "[num_tiles, (grid/merge)^2]", kF32);
    v.dim(o, "out", 0, num_tiles, "num_tiles");
    v.dim(o, "out", 1, (grid / merge) * (grid / merge), "(grid/merge)^2");
}
}  // namespace

VT_API int32_t vt_cls_saliency(void* stream, const vt_tensor* attn, const vt_tensor* out,
                               const vt_cls_saliency_params* params) {
    constexpr const char* op = "vt_cls_saliency";
    ClsSaliencyArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_cls_saliency_params& p = v.params(params);
        const int64_t patch_end = check_patches(op, p.grid, p.merge, p.first_patch);
        const vt_tensor& t = v(attn, "attn", 3, "[num_tiles, heads, row_len]", kFloating);
        const int64_t num_tiles = t.shape[0], heads = t.shape[1], row_len = t.shape[2];
        require_at_least(num_tiles, 1, op, "attn.shape[0] (num_tiles)");
        require_at_least(heads, 1, op, "attn.shape[1] (heads)");
        VT_REQUIRE(row_len == patch_end, op, "attn", "must have shape[2] (row_len) = first_patch + grid^2 = %lld, got %lld",
                   static_cast<long long>(patch_end), static_cast<long long>(row_len));
        require_reduce(p.head_reduce, op, "head_reduce");
        check_saliency_out(v, out, num_tiles, p.grid, p.merge);
        a = ClsSaliencyArgs{t.data,      t.dtype, num_tiles,     heads,
                            row_len,     p.first_patch, p.grid, p.merge,
                            p.head_reduce, static_cast<float*>(out->data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check, [&] { cpu::cls_saliency(a); }, [&](const cuda::Launch& at) { cuda::cls_saliency(a, at); });
}

VT_API int32_t vt_cls_saliency_qk(void* stream, const vt_tensor* q_cls, const vt_tensor* k, const vt_tensor* out,
                                  const vt_cls_saliency_qk_params* params) {
    constexpr const char* op = "vt_cls_saliency_qk";
    ClsSaliencyQkArgs a{};
    auto check = [&] {
        Views v(op);
        const vt_tensor& q = v(q_cls, "q_cls", 3, "[num_tiles, heads, head_dim]", kFloating, Layout::Strided);
        const vt_tensor& kv = v(k, "k", 4, "[num_tiles, heads, keys, head_dim]", kFloating, Layout::Strided);
        const vt_cls_saliency_qk_params& p = v.params(params);
        v.same_dtype(kv, "k", q, "q_cls");
        const int64_t num_tiles = q.shape[0], heads = q.shape[1], head_dim = q.shape[2], keys = kv.shape[2];
        require_at_least(num_tiles, 1, op, "q_cls.shape[0] (num_tiles)");
        require_at_least(heads, 1, op, "q_cls.shape[1] (heads)");
        require_at_least(head_dim, 1, op, "q_cls.shape[2] (head_dim)");
        v.dim(kv, "k", 0, num_tiles, "num_tiles, q_cls.shape[0]");
        v.dim(kv, "k", 1, heads, "heads, q_cls.shape[1]");
        v.dim(kv, "k", 3, head_dim, "head_dim, q_cls.shape[2]");
        const int64_t patch_end = check_patches(op, p.grid, p.merge, p.first_patch);
        VT_REQUIRE(keys >= patch_end, op, "k", "must have shape[2] (keys) >= first_patch + grid^2 = %lld, got %lld",
                   static_cast<long long>(patch_end), static_cast<long long>(keys));
        VT_REQUIRE(std::isfinite(p.scale) && p.scale > 0.0f, op, "scale", "must be finite and > 0, got %g",
                   double(p.scale));
        require_reduce(p.head_reduce, op, "head_reduce");
        check_saliency_out(v, out, num_tiles, p.grid, p.merge);
        a = ClsSaliencyQkArgs{q.data,        kv.data,       q.dtype,       num_tiles,     heads,
                              keys,          head_dim,      q.strides[0],  q.strides[1],  kv.strides[0],
                              kv.strides[1], kv.strides[2], p.first_patch, p.grid,        p.merge,
                              p.scale,       p.head_reduce, static_cast<float*>(out->data)};
        return v.device();
    };
    return dispatch_views(
        op, stream, check, [&] { cpu::cls_saliency_qk(a); },
        [&](const cuda::Launch& at) { cuda::cls_saliency_qk(a, at); });
}

}  // extern "C"
