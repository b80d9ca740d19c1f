// vtprune GPU check: every CUDA op of the C ABI against the CPU op on fresh random inputs at
// real model shapes (LLaVA-1.5: 576 visual tokens; InternVL2-2B: 12 tiles + thumbnail of 256),
// timed with CUDA events (median of many calls). No Java, no LibTorch.
//
//   vtprune_gpucheck [--json FILE] [--iters N] [--dtypes float32,float16,bfloat16] [--shapes llava,internvl]
//                    [--cpu-only] [--ops region_budget,fused_topk,...]
//
// --cpu-only runs the CPU half alone (no device needed): a dry run of the harness itself and
// CPU timings at the real shapes.
// Error: ||cuda - cpu|| / ||cpu|| for float outputs (pass below 1e-4: both accumulate in
// fp32, the GPU with a different order and fast exp), exact equality for indices and budgets.
// Device outputs are poisoned (0xFF bytes: NaN / -1) before the checked run. Timed runs
// rotate over several input copies when the inputs would otherwise sit in L2.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../src/test/cpp/views.hpp"
#include "vtprune/vtprune.h"

using vtv::view;

namespace {

// ------------------------------------------------------------------ plumbing

void die(const std::string& msg) {
    std::fprintf(stderr, "gpucheck: %s\n", msg.c_str());
    std::exit(2);
}

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) die(std::string(#call) + ": " + cudaGetErrorString(e_));            \
    } while (0)

void vt(int32_t status, const char* what) {
    if (status != VT_OK) die(std::string(what) + " failed (" + std::to_string(status) + "): " + vt_last_error());
}

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    float uniform() { return float((next() >> 40) * (1.0 / 16777216.0)); }
    float normal() {
        float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
        return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
    }
};

bool g_gpu = true;  // false under --cpu-only: no device memory, no CUDA calls
std::string g_ops;  // --ops: comma-separated check names to run (empty: all)

bool wanted(const char* check) {
    if (g_ops.empty()) return true;
    std::string list = "," + g_ops + ",";
    return list.find("," + std::string(check) + ",") != std::string::npos;
}

const char* dtype_name(int32_t d) { return d == VT_FLOAT32 ? "float32" : d == VT_FLOAT16 ? "float16" : "bfloat16"; }
size_t dtype_size(int32_t d) { return d == VT_FLOAT32 ? 4 : 2; }

// Values stored in a dtype, on the host and (once uploaded) on the device.
struct Tensor {
    int32_t dtype = VT_FLOAT32;
    size_t count = 0;
    std::vector<unsigned char> host;
    void* dev = nullptr;

    Tensor() = default;
    Tensor(const std::vector<float>& v, int32_t dt) : dtype(dt), count(v.size()), host(v.size() * dtype_size(dt)) {
        for (size_t i = 0; i < count; ++i) {
            if (dt == VT_FLOAT32) {
                std::memcpy(host.data() + 4 * i, &v[i], 4);
            } else if (dt == VT_FLOAT16) {
                __half h = __float2half_rn(v[i]);
                std::memcpy(host.data() + 2 * i, &h, 2);
            } else {
                __nv_bfloat16 h = __float2bfloat16_rn(v[i]);
                std::memcpy(host.data() + 2 * i, &h, 2);
            }
        }
        if (!g_gpu) return;
        CK(cudaMalloc(&dev, std::max<size_t>(bytes(), 1)));
        CK(cudaMemcpy(dev, host.data(), bytes(), cudaMemcpyHostToDevice));
    }
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;
    ~Tensor() {
        if (dev) cudaFree(dev);
    }
    size_t bytes() const { return host.size(); }
    const void* h() const { return host.data(); }
};

// A device buffer of n elements of T, poisoned with 0xFF bytes (NaN floats, -1 integers).
template <class T>
struct Out {
    size_t n;
    T* dev = nullptr;
    std::vector<T> host;
    explicit Out(size_t count) : n(count), host(count) {
        if (!g_gpu) return;
        CK(cudaMalloc(&dev, std::max<size_t>(n * sizeof(T), 1)));
        poison();
    }
    ~Out() {
        if (dev) cudaFree(dev);
    }
    void poison() {
        CK(cudaMemset(dev, 0xFF, n * sizeof(T)));
        std::memset(host.data(), 0xFF, n * sizeof(T));
    }
    std::vector<T> fetch() {
        std::vector<T> v(n);
        CK(cudaMemcpy(v.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost));
        return v;
    }
};

struct DevBytes {
    void* p = nullptr;
    explicit DevBytes(size_t bytes) {
        if (g_gpu) CK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
    }
    ~DevBytes() {
        if (p) cudaFree(p);
    }
};

template <class T>
struct DevCopy {  // device copy of a host vector (offsets, positions, budgets)
    T* dev = nullptr;
    explicit DevCopy(const std::vector<T>& v) {
        if (!g_gpu) return;
        CK(cudaMalloc(&dev, std::max<size_t>(v.size() * sizeof(T), 1)));
        CK(cudaMemcpy(dev, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    ~DevCopy() {
        if (dev) cudaFree(dev);
    }
};

std::vector<float> normal(size_t n, uint64_t seed, float scale = 1.0f) {
    Rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = scale * r.normal();
    return v;
}

std::vector<float> uniform(size_t n, uint64_t seed) {
    Rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = r.uniform();
    return v;
}

// rows of length `len` that are softmax distributions of sharpened normals
std::vector<float> softmax_rows(size_t rows, size_t len, uint64_t seed, float sharp = 3.0f) {
    std::vector<float> v = normal(rows * len, seed, sharp);
    for (size_t r = 0; r < rows; ++r) {
        float* x = v.data() + r * len;
        float top = *std::max_element(x, x + len), sum = 0;
        for (size_t j = 0; j < len; ++j) sum += x[j] = std::exp(x[j] - top);
        for (size_t j = 0; j < len; ++j) x[j] /= sum;
    }
    return v;
}

double rel_error(const std::vector<float>& ref, const std::vector<float>& got) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan(got[i]) || std::isnan(ref[i])) return INFINITY;
        num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
        den += double(ref[i]) * ref[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class T>
bool equal(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// ------------------------------------------------------------------ timing

struct Timing {
    double cuda_us = 0, cpu_us = 0;
};

int g_iters = 100;

// Median of per-call times of `launch(i)` measured with CUDA events, after warm-up.
double time_cuda(const std::function<void(int)>& launch) {
    for (int i = 0; i < 5; ++i) launch(i);
    CK(cudaDeviceSynchronize());
    std::vector<cudaEvent_t> ev(g_iters + 1);
    for (auto& e : ev) CK(cudaEventCreate(&e));
    CK(cudaEventRecord(ev[0]));
    for (int i = 0; i < g_iters; ++i) {
        launch(i);
        CK(cudaEventRecord(ev[i + 1]));
    }
    CK(cudaEventSynchronize(ev[g_iters]));
    std::vector<float> ms(g_iters);
    for (int i = 0; i < g_iters; ++i) CK(cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]));
    for (auto& e : ev) cudaEventDestroy(e);
    std::sort(ms.begin(), ms.end());
    return 1000.0 * ms[g_iters / 2];
}

double time_cpu(const std::function<void()>& run, int reps) {
    std::vector<double> us;
    for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        run();
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
}

// How many copies of an input set to rotate over so that timed calls do not hit in L2.
int rotation(size_t bytes) {
    const size_t l2 = 64u << 20;
    if (bytes >= l2) return 1;
    return int(std::min<size_t>(8, l2 / std::max<size_t>(bytes, 1) + 1));
}

// ------------------------------------------------------------------ results

struct Row {
    std::string op, shape, dtype, check;
    double error = 0;
    bool ok = false;
    Timing t;
    std::string params;  // the dimensions as a JSON object, for torch_baseline.py to rebuild the inputs
};
std::vector<Row> g_rows;

void report(Row r) {
    std::printf("%-22s %-44s %-9s %-10s %-9s %10.2f %12.1f\n", r.op.c_str(), r.shape.c_str(), r.dtype.c_str(),
                r.check.c_str(), r.ok ? "yes" : "NO", r.t.cuda_us, r.t.cpu_us);
    std::fflush(stdout);
    g_rows.push_back(std::move(r));
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[512];
    va_list a;
    va_start(a, f);
    std::vsnprintf(buf, sizeof buf, f, a);
    va_end(a);
    return buf;
}

// Under --cpu-only a check ends after its CPU half with a row that says so.
void cpu_only(const char* check, const Timing& t) {
    std::printf("%-24s cpu only %12.1f us\n", check, t.cpu_us);
    std::fflush(stdout);
}

std::string rel_text(double e) { return fmt("%.2e", e); }
constexpr double kTol = 1e-4;

// ------------------------------------------------------------------ model shapes

struct ShapeSet {
    std::string name;
    std::vector<int64_t> local_tiles;  // per image
    int64_t patch_grid, merge;         // ViT patch grid and pixel-shuffle factor
    int64_t vit_heads, vit_dim, cls_dim;
    int64_t lm_q_heads, lm_kv_heads, lm_dim, text, system;
    int64_t tokens_per_tile() const { return (patch_grid / merge) * (patch_grid / merge); }
    int64_t tiles() const {
        int64_t t = 0;
        for (auto l : local_tiles) t += l + 1;
        return t;
    }
    int64_t visual() const { return tiles() * tokens_per_tile(); }
    int64_t vit_tokens() const { return patch_grid * patch_grid + 1; }
};

// LLaVA-1.5-7B: CLIP ViT-L/14-336 (24 x 24 patches, 16 heads of 64), Vicuna-7B (32 heads of 128).
const ShapeSet kLlava{"llava-1.5", {0}, 24, 1, 16, 64, 1024, 32, 32, 128, 64, 35};
// InternVL2-2B: InternViT-300M (32 x 32 patches, 16 heads of 64, pixel shuffle 2),
// InternLM2-1.8B (16 query heads, 8 kv heads of 128); 12 tiles + thumbnail.
const ShapeSet kInternvl{"internvl2-2b", {12}, 32, 2, 16, 64, 1024, 16, 8, 128, 64, 20};

struct Layout {
    std::vector<int64_t> tile_off, token_off;
};
Layout layout_of(const ShapeSet& s) {
    Layout l;
    l.tile_off.push_back(0);
    l.token_off.push_back(0);
    for (auto local : s.local_tiles) {
        l.tile_off.push_back(l.tile_off.back() + local + 1);
        for (int64_t t = 0; t <= local; ++t) l.token_off.push_back(l.token_off.back() + s.tokens_per_tile());
    }
    return l;
}

// ------------------------------------------------------------------ checks

void check_region_budget(const ShapeSet& s, int32_t dt, uint64_t seed) {
    Layout L = layout_of(s);
    const int64_t tiles = s.tiles();
    Tensor cls(normal(tiles * s.cls_dim, seed), dt);
    std::vector<float> scores(tiles), weights(tiles);
    std::vector<int64_t> budgets(tiles);
    const int64_t images = (int64_t)s.local_tiles.size();
    const vt_region_budget_params params{0.5, 1.0, 0};
    Timing t;
    t.cpu_us = time_cpu([&] {
        const vt_tensor c = view(cls.h(), dt, {tiles, s.cls_dim}), to = view(L.tile_off.data(), {images + 1}),
                        ko = view(L.token_off.data(), {tiles + 1}), sc = view(scores.data(), {tiles}),
                        w = view(weights.data(), {tiles}), b = view(budgets.data(), {tiles});
        vt(vt_region_budget(nullptr, &c, &to, &ko, &sc, &w, &b, &params), "vt_region_budget(cpu)");
    }, 5);
    DevCopy<int64_t> tile_off(L.tile_off), token_off(L.token_off);
    Out<float> gs(tiles), gw(tiles);
    Out<int64_t> gb(tiles);
    auto launch = [&](int) {
        const vt_tensor c = view(cls.dev, dt, {tiles, s.cls_dim}, 0), to = view(tile_off.dev, {images + 1}, 0),
                        ko = view(token_off.dev, {tiles + 1}, 0), sc = view(gs.dev, {tiles}, 0),
                        w = view(gw.dev, {tiles}, 0), b = view(gb.dev, {tiles}, 0);
        vt(vt_region_budget(nullptr, &c, &to, &ko, &sc, &w, &b, &params), "vt_region_budget(cuda)");
    };
    if (!g_gpu) return cpu_only(__func__ + 6, t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = std::max(rel_error(scores, gs.fetch()), rel_error(weights, gw.fetch()));
    bool ok = err < kTol && equal(budgets, gb.fetch());
    t.cuda_us = time_cuda(launch);
    report({"region_budget (K1)", fmt("%lld tiles x %lld", (long long)tiles, (long long)s.cls_dim), dtype_name(dt),
            rel_text(err) + (ok ? "" : " budgets?"), err, ok, t,
            fmt("{\"local_tiles\": %lld, \"images\": %zu, \"dim\": %lld, \"tokens_per_tile\": %lld}",
                (long long)s.local_tiles[0], s.local_tiles.size(), (long long)s.cls_dim, (long long)s.tokens_per_tile())});
}

void check_fused_topk(const ShapeSet& s, int32_t dt, uint64_t seed) {
    Layout L = layout_of(s);
    const int64_t tiles = s.tiles(), n = s.visual();
    Tensor b(normal(n, seed), dt), c(uniform(n, seed + 1), dt);
    std::vector<int64_t> budgets(tiles);
    Rng r(seed + 2);
    for (auto& k : budgets) k = int64_t(r.uniform() * (s.tokens_per_tile() + 1));
    std::vector<float> fused(n);
    std::vector<int64_t> kept(n), per(tiles);
    const vt_fused_topk_params params{0.5f, 1};
    Timing t;
    t.cpu_us = time_cpu([&] {
        const vt_tensor bv = view(b.h(), dt, {n}), cv = view(c.h(), dt, {n}), ov = view(L.token_off.data(), {tiles + 1}),
                        kbv = view(budgets.data(), {tiles}), fv = view(fused.data(), {n}), kv = view(kept.data(), {n}),
                        pv = view(per.data(), {tiles});
        vt(vt_fused_topk(nullptr, &bv, &cv, &ov, &kbv, &fv, &kv, &pv, &params), "vt_fused_topk(cpu)");
    }, 5);
    DevCopy<int64_t> off(L.token_off), kb(budgets);
    Out<float> gf(n);
    Out<int64_t> gk(n), gp(tiles);
    auto launch = [&](int) {
        const vt_tensor bv = view(b.dev, dt, {n}, 0), cv = view(c.dev, dt, {n}, 0), ov = view(off.dev, {tiles + 1}, 0),
                        kbv = view(kb.dev, {tiles}, 0), fv = view(gf.dev, {n}, 0), kv = view(gk.dev, {n}, 0),
                        pv = view(gp.dev, {tiles}, 0);
        vt(vt_fused_topk(nullptr, &bv, &cv, &ov, &kbv, &fv, &kv, &pv, &params), "vt_fused_topk(cuda)");
    };
    if (!g_gpu) return cpu_only(__func__ + 6, t);
    launch(0);
    CK(cudaDeviceSynchronize());
    bool ok = equal(kept, gk.fetch()) && equal(per, gp.fetch()) && equal(fused, gf.fetch());
    t.cuda_us = time_cuda(launch);
    report({"fused_topk (K2)", fmt("%lld tiles, %lld tokens", (long long)tiles, (long long)n), dtype_name(dt),
            "bit-exact", 0, ok, t,
            fmt("{\"tiles\": %lld, \"tokens_per_tile\": %lld}", (long long)tiles, (long long)s.tokens_per_tile())});
}

void check_rollout(const ShapeSet& s, int32_t dt, uint64_t seed, bool qk) {
    const int64_t seqs = s.tiles(), H = s.vit_heads, M = s.vit_tokens(), d = s.vit_dim, layers = 3;
    std::vector<std::unique_ptr<Tensor>> a, q, k;
    for (int64_t l = 0; l < layers; ++l) {
        if (qk) {
            q.emplace_back(new Tensor(normal(seqs * H * M * d, seed + 2 * l), dt));
            k.emplace_back(new Tensor(normal(seqs * H * M * d, seed + 2 * l + 1), dt));
        } else {
            a.emplace_back(new Tensor(softmax_rows(seqs * H * M, M, seed + l), dt));
        }
    }
    Tensor values(normal(seqs * M * H * d, seed + 99), dt);
    // Layer views on the host (device -1) and on the GPU (device 0).
    std::vector<vt_tensor> hp, hq, hk, dp, dq, dk;
    for (auto& x : a) hp.push_back(view(x->h(), dt, {seqs, H, M, M})), dp.push_back(view(x->dev, dt, {seqs, H, M, M}, 0));
    for (auto& x : q) hq.push_back(view(x->h(), dt, {seqs, H, M, d})), dq.push_back(view(x->dev, dt, {seqs, H, M, d}, 0));
    for (auto& x : k) hk.push_back(view(x->h(), dt, {seqs, H, M, d})), dk.push_back(view(x->dev, dt, {seqs, H, M, d}, 0));
    std::vector<float> row(seqs * M), imp(seqs * (M - 1));
    const float scale = 1.0f / std::sqrt(float(d));
    const vt_rollout_params params{layers, VT_ROLLOUT_IVTP};
    const vt_rollout_qk_params qk_params{layers, scale, VT_ROLLOUT_IVTP};
    const vt_tensor hv = view(values.h(), dt, {seqs, M, H * d}), hr = view(row.data(), {seqs, M}),
                    hi = view(imp.data(), {seqs, M - 1});
    Timing t;
    t.cpu_us = time_cpu([&] {
        if (qk) {
            vt(vt_rollout_qk(nullptr, hq.data(), hk.data(), &hv, &hr, &hi, &qk_params, nullptr, 0), "vt_rollout_qk(cpu)");
        } else {
            vt(vt_rollout(nullptr, hp.data(), &hv, &hr, &hi, &params, nullptr, 0), "vt_rollout(cpu)");
        }
    }, 1);
    const vt_tensor sizing = view(nullptr, dt, {seqs, H, M, qk ? d : M}, 0);  // (the queries read device and sizes)
    size_t ws_bytes = qk ? vt_rollout_qk_workspace_bytes(&sizing) : vt_rollout_workspace_bytes(&sizing);
    DevBytes ws(ws_bytes);
    Out<float> grow(seqs * M), gimp(seqs * (M - 1));
    const vt_tensor gv = view(values.dev, dt, {seqs, M, H * d}, 0), gr = view(grow.dev, {seqs, M}, 0),
                    gi = view(gimp.dev, {seqs, M - 1}, 0);
    auto launch = [&](int) {
        if (qk) {
            vt(vt_rollout_qk(nullptr, dq.data(), dk.data(), &gv, &gr, &gi, &qk_params, ws.p, ws_bytes),
               "vt_rollout_qk(cuda)");
        } else {
            vt(vt_rollout(nullptr, dp.data(), &gv, &gr, &gi, &params, ws.p, ws_bytes), "vt_rollout(cuda)");
        }
    };
    if (!g_gpu) return cpu_only(qk ? "rollout_qk" : "rollout", t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = std::max(rel_error(row, grow.fetch()), rel_error(imp, gimp.fetch()));
    t.cuda_us = time_cuda(launch);
    report({qk ? "rollout_qk (K3)" : "rollout (K3)",
            fmt("%lld seqs x %lld heads x %lld tokens%s, 3 layers", (long long)seqs, (long long)H, (long long)M,
                qk ? fmt(" x d%lld", (long long)d).c_str() : ""),
            dtype_name(dt), rel_text(err), err, err < kTol, t,
            fmt("{\"seqs\": %lld, \"heads\": %lld, \"tokens\": %lld, \"head_dim\": %lld, \"layers\": 3, \"qk\": %s}",
                (long long)seqs, (long long)H, (long long)M, (long long)d, qk ? "true" : "false")});
}

void check_rollout_matrix(const ShapeSet& s, int32_t dt, uint64_t seed) {
    const int64_t seqs = 1, H = s.vit_heads, M = s.vit_tokens(), layers = 3;
    std::vector<std::unique_ptr<Tensor>> a;
    std::vector<vt_tensor> hp, dp;
    for (int64_t l = 0; l < layers; ++l) {
        a.emplace_back(new Tensor(softmax_rows(seqs * H * M, M, seed + l), dt));
        hp.push_back(view(a.back()->h(), dt, {seqs, H, M, M}));
        dp.push_back(view(a.back()->dev, dt, {seqs, H, M, M}, 0));
    }
    std::vector<float> m(seqs * M * M);
    const vt_rollout_params params{layers, VT_ROLLOUT_IVTP};
    const vt_tensor hm = view(m.data(), {seqs, M, M});
    Timing t;
    t.cpu_us = time_cpu([&] {
        vt(vt_rollout_matrix(nullptr, hp.data(), &hm, &params, nullptr, 0), "vt_rollout_matrix(cpu)");
    }, 1);
    size_t ws_bytes = vt_rollout_matrix_workspace_bytes(dp.data());
    DevBytes ws(ws_bytes);
    Out<float> gm(seqs * M * M);
    const vt_tensor gmv = view(gm.dev, {seqs, M, M}, 0);
    auto launch = [&](int) {
        vt(vt_rollout_matrix(nullptr, dp.data(), &gmv, &params, ws.p, ws_bytes), "vt_rollout_matrix(cuda)");
    };
    if (!g_gpu) return cpu_only(__func__ + 6, t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = rel_error(m, gm.fetch());
    t.cuda_us = time_cuda(launch);
    report({"rollout_matrix (K3)", fmt("1 seq x %lld heads x %lld tokens, 3 layers", (long long)H, (long long)M),
            dtype_name(dt), rel_text(err), err, err < kTol, t,
            fmt("{\"seqs\": 1, \"heads\": %lld, \"tokens\": %lld, \"layers\": 3}", (long long)H, (long long)M)});
}

// The LM sequence of one image: system prompt, visual tokens, instruction.
struct LmSeq {
    int64_t keys;
    std::vector<int64_t> qpos, vpos;
};
LmSeq lm_seq(const ShapeSet& s) {
    LmSeq q;
    q.keys = s.system + s.visual() + s.text;
    for (int64_t i = 0; i < s.visual(); ++i) q.vpos.push_back(s.system + i);
    for (int64_t i = 0; i < s.text; ++i) q.qpos.push_back(s.system + s.visual() + i);
    return q;
}

void check_text_relevance(const ShapeSet& s, int32_t dt, uint64_t seed) {
    const int64_t H = s.lm_q_heads, Q = s.text, N = s.visual();
    std::vector<float> p = uniform(H * Q * N, seed);
    for (auto& x : p) x *= 2.0f / float(N);
    const int sets = rotation(H * Q * N * dtype_size(dt));
    std::vector<std::unique_ptr<Tensor>> attn;
    for (int i = 0; i < sets; ++i) attn.emplace_back(new Tensor(p, dt));
    std::vector<int64_t> qo{0, Q}, vo{0, N};
    std::vector<float> out(N);
    const vt_text_relevance_params params{H, VT_REDUCE_MEAN, VT_REDUCE_MAX};
    Timing t;
    t.cpu_us = time_cpu([&] {
        const vt_tensor av = view(attn[0]->h(), dt, {H * Q * N}), qov = view(qo.data(), {2}), vov = view(vo.data(), {2}),
                        ov = view(out.data(), {N});
        vt(vt_text_relevance(nullptr, &av, &qov, &vov, &ov, &params), "vt_text_relevance(cpu)");
    }, 5);
    DevCopy<int64_t> dqo(qo), dvo(vo);
    Out<float> gout(N);
    auto launch = [&](int i) {
        const vt_tensor av = view(attn[i % sets]->dev, dt, {H * Q * N}, 0), qov = view(dqo.dev, {2}, 0),
                        vov = view(dvo.dev, {2}, 0), ov = view(gout.dev, {N}, 0);
        vt(vt_text_relevance(nullptr, &av, &qov, &vov, &ov, &params), "vt_text_relevance(cuda)");
    };
    if (!g_gpu) return cpu_only(__func__ + 6, t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = rel_error(out, gout.fetch());
    t.cuda_us = time_cuda(launch);
    report({"text_relevance (K4)", fmt("%lld heads x %lld queries x %lld visual", (long long)H, (long long)Q, (long long)N),
            dtype_name(dt), rel_text(err), err, err < kTol, t,
            fmt("{\"heads\": %lld, \"queries\": %lld, \"visual\": %lld}", (long long)H, (long long)Q, (long long)N)});
}

void check_text_relevance_qk(const ShapeSet& s, int32_t dt, uint64_t seed) {
    const int64_t Hq = s.lm_q_heads, Hkv = s.lm_kv_heads, d = s.lm_dim, Q = s.text;
    LmSeq seq = lm_seq(s);
    const int64_t L = seq.keys, N = (int64_t)seq.vpos.size();
    Tensor q(normal(Hq * Q * d, seed), dt), k(normal(Hkv * L * d, seed + 1), dt);
    std::vector<int64_t> qo{0, Q}, ko{0, L}, vo{0, N};
    std::vector<float> out(N);
    const float scale = 1.0f / std::sqrt(float(d));
    const vt_text_relevance_qk_params params{scale, VT_REDUCE_MEAN, VT_REDUCE_MAX};
    Timing t;
    t.cpu_us = time_cpu([&] {
        const vt_tensor qv = view(q.h(), dt, {Hq, Q, d}), kv = view(k.h(), dt, {Hkv, L, d}), qov = view(qo.data(), {2}),
                        kov = view(ko.data(), {2}), qpv = view(seq.qpos.data(), {Q}), vov = view(vo.data(), {2}),
                        vpv = view(seq.vpos.data(), {N}), ov = view(out.data(), {N});
        vt(vt_text_relevance_qk(nullptr, &qv, &kv, &qov, &kov, &qpv, &vov, &vpv, &ov, &params, nullptr, 0),
           "vt_text_relevance_qk(cpu)");
    }, 3);
    DevCopy<int64_t> dqo(qo), dko(ko), dvo(vo), dqp(seq.qpos), dvp(seq.vpos);
    const vt_tensor q_dev = view(q.dev, dt, {Hq, Q, d}, 0);
    size_t ws_bytes = vt_text_relevance_qk_workspace_bytes(&q_dev);
    DevBytes ws(ws_bytes);
    Out<float> gout(N);
    auto launch = [&](int) {
        const vt_tensor kv = view(k.dev, dt, {Hkv, L, d}, 0), qov = view(dqo.dev, {2}, 0), kov = view(dko.dev, {2}, 0),
                        qpv = view(dqp.dev, {Q}, 0), vov = view(dvo.dev, {2}, 0), vpv = view(dvp.dev, {N}, 0),
                        ov = view(gout.dev, {N}, 0);
        vt(vt_text_relevance_qk(nullptr, &q_dev, &kv, &qov, &kov, &qpv, &vov, &vpv, &ov, &params, ws.p, ws_bytes),
           "vt_text_relevance_qk(cuda)");
    };
    if (!g_gpu) return cpu_only(__func__ + 6, t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = rel_error(out, gout.fetch());
    t.cuda_us = time_cuda(launch);
    report({"text_relevance_qk (K4)",
            fmt("q %lldx%lldx%lld, k %lldx%lldx%lld", (long long)Hq, (long long)Q, (long long)d, (long long)Hkv,
                (long long)L, (long long)d),
            dtype_name(dt), rel_text(err), err, err < kTol, t,
            fmt("{\"q_heads\": %lld, \"kv_heads\": %lld, \"head_dim\": %lld, \"queries\": %lld, \"keys\": %lld, "
                "\"visual_start\": %lld, \"visual\": %lld}",
                (long long)Hq, (long long)Hkv, (long long)d, (long long)Q, (long long)L, (long long)s.system,
                (long long)N)});
}

void check_cls_saliency(const ShapeSet& s, int32_t dt, uint64_t seed, bool qk) {
    const int64_t tiles = s.tiles(), H = s.vit_heads, g = s.patch_grid, P = g * g, M = P + 1, d = s.vit_dim;
    const int64_t tokens = (g / s.merge) * (g / s.merge);
    std::unique_ptr<Tensor> attn, q, k;
    if (qk) {
        q.reset(new Tensor(normal(tiles * H * d, seed), dt));
        k.reset(new Tensor(normal(tiles * H * M * d, seed + 1), dt));
    } else {
        attn.reset(new Tensor(softmax_rows(tiles * H, P, seed), dt));
    }
    std::vector<float> out(tiles * tokens);
    const float scale = 1.0f / std::sqrt(float(d));
    auto call = [&](int32_t device, const void* a, const void* qq, const void* kk, float* o) {
        const vt_tensor ov = view(o, {tiles, tokens}, device);
        if (qk) {
            const vt_tensor qv = view(qq, dt, {tiles, H, d}, device), kv = view(kk, dt, {tiles, H, M, d}, device);
            const vt_cls_saliency_qk_params p{1, g, s.merge, VT_REDUCE_MEAN, scale};
            vt(vt_cls_saliency_qk(nullptr, &qv, &kv, &ov, &p), "vt_cls_saliency_qk");
        } else {
            const vt_tensor av = view(a, dt, {tiles, H, P}, device);
            const vt_cls_saliency_params p{0, g, s.merge, VT_REDUCE_MEAN};
            vt(vt_cls_saliency(nullptr, &av, &ov, &p), "vt_cls_saliency");
        }
    };
    Timing t;
    t.cpu_us = time_cpu([&] { call(-1, qk ? nullptr : attn->h(), qk ? q->h() : nullptr, qk ? k->h() : nullptr, out.data()); },
                        5);
    Out<float> gout(tiles * tokens);
    auto launch = [&](int) {
        call(0, qk ? nullptr : attn->dev, qk ? q->dev : nullptr, qk ? k->dev : nullptr, gout.dev);
    };
    if (!g_gpu) return cpu_only(qk ? "cls_saliency_qk" : "cls_saliency", t);
    launch(0);
    CK(cudaDeviceSynchronize());
    double err = rel_error(out, gout.fetch());
    t.cuda_us = time_cuda(launch);
    report({qk ? "cls_saliency_qk (K5)" : "cls_saliency (K5)",
            fmt("%lld tiles x %lld heads x %lld%s, merge %lld", (long long)tiles, (long long)H, (long long)(qk ? M : P),
                qk ? fmt(" x d%lld", (long long)d).c_str() : "", (long long)s.merge),
            dtype_name(dt), rel_text(err), err, err < kTol, t,
            fmt("{\"tiles\": %lld, \"heads\": %lld, \"grid\": %lld, \"merge\": %lld, \"head_dim\": %lld, \"qk\": %s}",
                (long long)tiles, (long long)H, (long long)g, (long long)s.merge, (long long)d, qk ? "true" : "false")});
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at <= s.size()) {
        size_t comma = s.find(',', at);
        if (comma == std::string::npos) comma = s.size();
        if (comma > at) out.push_back(s.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

void write_json(const std::string& path, const std::string& device) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) die("cannot write " + path);
    std::fprintf(f, "{\"device\": \"%s\", \"iters\": %d, \"rows\": [\n", device.c_str(), g_iters);
    for (size_t i = 0; i < g_rows.size(); ++i) {
        const Row& r = g_rows[i];
        std::fprintf(f,
                     "  {\"op\": \"%s\", \"shape\": \"%s\", \"dtype\": \"%s\", \"error\": %.3e, \"match\": %s, "
                     "\"cuda_us\": %.3f, \"cpu_us\": %.1f, \"params\": %s}%s\n",
                     r.op.c_str(), r.shape.c_str(), r.dtype.c_str(), std::isfinite(r.error) ? r.error : 1e300,
                     r.ok ? "true" : "false", r.t.cuda_us, r.t.cpu_us, r.params.empty() ? "{}" : r.params.c_str(),
                     i + 1 < g_rows.size() ? "," : "");
    }
    std::fprintf(f, "]}\n");
    std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
    std::string json, dtypes = "float32,bfloat16", shapes = "llava,internvl";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&] {
            if (i + 1 >= argc) die("missing value after " + a);
            return std::string(argv[++i]);
        };
        if (a == "--json") json = value();
        else if (a == "--iters") g_iters = std::max(3, std::atoi(value().c_str()));
        else if (a == "--dtypes") dtypes = value();
        else if (a == "--shapes") shapes = value();
        else if (a == "--cpu-only") g_gpu = false;
        else if (a == "--ops") g_ops = value();
        else die("unknown argument " + a + " (see the comment at the top of gpucheck.cu)");
    }
    cudaDeviceProp prop{};
    if (g_gpu) {
        if (!vt_cuda_compiled()) die("libvtprune was built without CUDA");
        if (vt_cuda_device_count() == 0) die("no CUDA device is usable (no driver or no GPU): try --cpu-only");
        CK(cudaGetDeviceProperties(&prop, 0));
    } else {
        std::snprintf(prop.name, sizeof prop.name, "none (--cpu-only)");
    }
    std::printf("device: %s (%d SMs, sm_%d%d), vtprune %s, CPU threads %d, %d timed calls per op\n", prop.name,
                prop.multiProcessorCount, prop.major, prop.minor, vt_version(), vt_get_num_threads(), g_iters);
    std::printf("%-22s %-44s %-9s %-10s %-9s %10s %12s\n", "op", "shape", "dtype", "rel.error", "matches", "cuda_us",
                "cpu_us");
    uint64_t seed = 1;
    for (const std::string& shape_name : split(shapes)) {
        const ShapeSet& s = shape_name == "llava" ? kLlava : shape_name == "internvl" ? kInternvl
                                                                                       : (die("unknown shape " + shape_name), kLlava);
        for (const std::string& dn : split(dtypes)) {
            int32_t dt = dn == "float32" ? VT_FLOAT32 : dn == "float16" ? VT_FLOAT16 : dn == "bfloat16" ? VT_BFLOAT16
                                                                                                           : (die("unknown dtype " + dn), 0);
            seed += 10;  // the same inputs for an op whichever others run
            if (wanted("region_budget")) check_region_budget(s, dt, seed + 0);
            if (wanted("fused_topk")) check_fused_topk(s, dt, seed + 1);
            if (wanted("cls_saliency")) check_cls_saliency(s, dt, seed + 2, false);
            if (wanted("cls_saliency_qk")) check_cls_saliency(s, dt, seed + 3, true);
            if (wanted("text_relevance")) check_text_relevance(s, dt, seed + 4);
            if (wanted("text_relevance_qk")) check_text_relevance_qk(s, dt, seed + 5);
            if (wanted("rollout")) check_rollout(s, dt, seed + 6, false);
            if (wanted("rollout_qk")) check_rollout(s, dt, seed + 7, true);
            if (wanted("rollout_matrix") && shape_name == "llava") check_rollout_matrix(s, dt, seed + 8);
        }
    }
    if (!json.empty()) write_json(json, prop.name);
    int failed = 0;
    for (const Row& r : g_rows) failed += !r.ok;
    std::printf("%d of %zu checks match the CPU ops\n", int(g_rows.size()) - failed, g_rows.size());
    return failed == 0 ? 0 : 1;
}
