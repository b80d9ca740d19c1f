// libFuzzer harness for the C ABI (issue 13): K1, K2, K3 (all three forms: from probabilities,
// from Q/K, the full matrix), K4 (both forms), K5 (both forms). The first byte picks an entry point; the next
// bytes give its sizes and arguments; the rest fills the data. Buffers are allocated to exactly
// the footprint the arguments imply (so ASan flags any read or write past it), and on VT_OK the
// outputs are checked against the header's contract. "Wild" inputs replace sizes with extreme
// values: when their footprint overflows int64 the call must fail (with tiny buffers, any
// access is an ASan report), and when it merely exceeds kMaxElements the case is skipped.
// Built with -DVTPRUNE_FUZZ=ON and clang (see .ci/fuzz.sh).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../cpp/views.hpp"
#include "vtprune/vtprune.h"

using vtv::view;

namespace {

constexpr int64_t kMaxElements = 1 << 16;

[[noreturn]] void broken(const char* op, const char* what) {
    std::fprintf(stderr, "INVARIANT BROKEN in %s: %s (last error: %s)\n", op, what, vt_last_error());
    std::abort();
}
#define INVARIANT(op, cond) \
    do {                    \
        if (!(cond)) broken(op, #cond); \
    } while (0)

struct Reader {
    const uint8_t* p;
    size_t n;
    uint8_t u8() {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | u8();
        return v;
    }
    int64_t small(int64_t lo, int64_t hi) { return lo + u8() % (hi - lo + 1); }
    // Sizes that break naive arithmetic.
    int64_t wild() {
        static const int64_t table[] = {0,           1,         -1,          2,          INT64_MAX, INT64_MIN,
                                        int64_t(1) << 31, int64_t(1) << 32, 3037000500, int64_t(1) << 62,
                                        INT64_MAX - 1, 65536};
        const uint8_t k = u8();
        return k < 12 ? table[k] : k < 200 ? int64_t(k % 9) : int64_t(u64());
    }
    float value() {
        const uint8_t k = u8();
        if (k < 200) return float(int(k) - 100) / 16.0f;
        uint32_t bits = uint32_t(u64());
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
    void fill(std::vector<float>& v) {
        for (float& x : v) x = value();
    }
    // Non-decreasing offsets from 0 with segments of 0..max_seg, occasionally broken.
    std::vector<int64_t> offsets(int64_t count, int64_t max_seg) {
        std::vector<int64_t> off(count + 1, 0);
        for (int64_t i = 0; i < count; ++i) off[i + 1] = off[i] + small(0, max_seg);
        if (u8() == 255 && count > 0) off[small(0, count)] = wild();
        return off;
    }
};

// Element count of a dense tensor, or -1 when it overflows int64, or -2 when above kMaxElements.
int64_t footprint(std::initializer_list<__int128> dims) {
    __int128 n = 1;
    for (__int128 d : dims) {
        if (d < 0) return -1;
        n *= d;
        if (n > (__int128(INT64_MAX) / 4)) return -1;
    }
    return n > kMaxElements ? -2 : int64_t(n);
}

bool finite_all(const std::vector<float>& v) {
    for (float x : v) {
        if (!std::isfinite(x)) return false;
    }
    return true;
}

// A refusal of generated input: an argument out of contract, or in-contract inputs whose
// attention logits overflow (VT_ERR_NONFINITE, which names them).
bool rejected_as_bad_input(int32_t st) {
    return st == VT_ERR_INVALID_ARGUMENT ||
           (st == VT_ERR_NONFINITE && std::strstr(vt_last_error(), "non-finite attention logits") != nullptr);
}

void fuzz_cls_saliency(Reader& r) {
    constexpr const char* op = "vt_cls_saliency";
    const bool wild = r.u8() >= 224;
    int64_t tiles = r.small(1, 3), heads = r.small(1, 3), grid = r.small(1, 6), merge = r.small(1, 3);
    int64_t first = r.small(0, 2);
    int64_t row_len = first + grid * grid;
    if (wild) {
        switch (r.u8() % 5) {
            case 0: grid = r.wild(); break;
            case 1: merge = r.wild(); grid = merge; break;
            case 2: row_len = r.wild(); break;
            case 3: first = r.wild(); break;
            default: tiles = r.wild(); heads = r.wild(); break;
        }
    }
    const int32_t reduce = r.u8() % 2;
    const __int128 g2 = __int128(grid) * grid;
    const bool consistent = grid >= 1 && merge >= 1 && grid % merge == 0 && first >= 0 && __int128(row_len) == first + g2;
    const int64_t in = footprint({tiles, heads, row_len});
    if (consistent && in == -2) return;  // valid but too big to allocate here
    const int64_t tokens = consistent ? int64_t((grid / merge) * (grid / merge)) : 1;
    const int64_t out_n = consistent && in >= 0 ? footprint({tiles, tokens}) : 1;
    std::vector<float> attn(in > 0 ? size_t(in) : 1), out(out_n > 0 ? size_t(out_n) : 1, -7.0f);
    r.fill(attn);
    const vt_tensor av = view(attn.data(), {tiles, heads, row_len}),
                    ov = consistent && in >= 0 ? view(out.data(), {tiles, tokens}) : view(out.data(), {1, 1});
    const vt_cls_saliency_params p{first, grid, merge, reduce};
    const int32_t st = vt_cls_saliency(nullptr, &av, &ov, &p);
    if (!consistent || in == -1 || tiles < 1 || heads < 1) {
        INVARIANT(op, st != VT_OK);
        return;
    }
    INVARIANT(op, st == VT_OK);
    if (finite_all(attn)) {
        for (float x : out) INVARIANT(op, !std::isnan(x));
    }
}

void fuzz_cls_saliency_qk(Reader& r) {
    constexpr const char* op = "vt_cls_saliency_qk";
    const int64_t tiles = r.small(1, 3), heads = r.small(1, 3), d = r.small(1, 8), grid = r.small(1, 4);
    const int64_t merge = grid % 2 == 0 && r.u8() % 2 ? 2 : 1, first = r.small(0, 1);
    const int64_t keys = first + grid * grid + r.small(0, 2);
    const float scale = r.u8() < 250 ? 0.125f * float(r.small(1, 16)) : 1e30f;
    std::vector<float> q(size_t(tiles * heads * d)), k(size_t(tiles * heads * keys * d));
    const int64_t tokens = (grid / merge) * (grid / merge);
    std::vector<float> out(size_t(tiles * tokens), -7.0f);
    r.fill(q);
    r.fill(k);
    const int32_t reduce = r.u8() % 2;
    const vt_tensor qv = view(q.data(), {tiles, heads, d}), kv = view(k.data(), {tiles, heads, keys, d}),
                    ov = view(out.data(), {tiles, (grid / merge) * (grid / merge)});
    const vt_cls_saliency_qk_params p{first, grid, merge, reduce, scale};
    const int32_t st = vt_cls_saliency_qk(nullptr, &qv, &kv, &ov, &p);
    if (st != VT_OK) {
        INVARIANT(op, st == VT_ERR_NONFINITE && std::strstr(vt_last_error(), "non-finite attention logits"));
        return;
    }
    // Pooled probabilities: a head mean sums to at most 1; a head max of merge^2 patches to merge^2.
    const float bound = reduce == VT_REDUCE_MAX ? float(merge * merge) : 1.0f;
    for (float x : out) INVARIANT(op, x >= 0.0f && x <= bound + 1e-4f);
}

void fuzz_text_relevance_qk(Reader& r) {
    constexpr const char* op = "vt_text_relevance_qk";
    const int64_t images = r.small(1, 3), kv = r.small(1, 2), group = r.small(1, 2), d = r.small(1, 8);
    const int64_t qh = kv * group;
    std::vector<int64_t> qo = r.offsets(images, 4), ko = r.offsets(images, 6), vo = r.offsets(images, 4);
    bool valid = true;
    for (int64_t b = 0; b < images; ++b) {
        valid &= qo[b + 1] >= qo[b] && ko[b + 1] >= ko[b] && vo[b + 1] >= vo[b] && qo[b] >= 0 && ko[b] >= 0 && vo[b] >= 0;
    }
    valid &= qo[0] == 0 && ko[0] == 0 && vo[0] == 0;
    if (!valid) {
        // Broken offsets must be rejected before anything is read through them.
        // The views are well-formed (one query row and key row shared by every head: stride 0),
        // so that what the library has to reject is the offsets.
        float dummy[8] = {};
        int64_t pos[1] = {0};
        const vt_tensor qv = vtv::strided(dummy, VT_FLOAT32, {qh, 1, d}, {0, 0, 1}),
                        kv_ = vtv::strided(dummy, VT_FLOAT32, {kv, 1, d}, {0, 0, 1}),
                        qov = view(qo.data(), {images + 1}), kov = view(ko.data(), {images + 1}),
                        vov = view(vo.data(), {images + 1}), pv = view(pos, {1}), ov = view(dummy, {1});
        const vt_text_relevance_qk_params p{1.0f, 0, 1};
        const int32_t st = vt_text_relevance_qk(nullptr, &qv, &kv_, &qov, &kov, &pv, &vov, &pv, &ov, &p, nullptr, 0);
        INVARIANT(op, st != VT_OK);
        return;
    }
    const int64_t nq = qo[images], nk = ko[images], nv = vo[images];
    if (nq > 64 || nk > 64 || nv > 64) return;  // valid but too big to allocate here
    std::vector<int64_t> qpos(static_cast<size_t>(nq)), vpos(static_cast<size_t>(nv));
    for (int64_t b = 0; b < images; ++b) {
        const int64_t keys = ko[b + 1] - ko[b];
        for (int64_t i = qo[b]; i < qo[b + 1]; ++i) qpos[i] = keys > 0 ? r.small(0, keys - 1) : 0;
        for (int64_t i = vo[b]; i < vo[b + 1]; ++i) vpos[i] = keys > 0 ? r.small(0, keys - 1) : 0;
    }
    if (r.u8() == 255 && nq > 0) qpos[0] = r.wild();
    std::vector<float> q(size_t(qh * nq * d)), k(size_t(kv * nk * d)), out(size_t(nv), -7.0f);
    r.fill(q);
    r.fill(k);
    // Layouts [heads, tokens, d]: head stride tokens * d, token stride d.
    const vt_tensor qv = view(q.data(), {qh, nq, d}), kv_ = view(k.data(), {kv, nk, d}),
                    qov = view(qo.data(), {images + 1}), kov = view(ko.data(), {images + 1}),
                    vov = view(vo.data(), {images + 1}), qpv = view(qpos.data(), {nq}), vpv = view(vpos.data(), {nv}),
                    ov = view(out.data(), {nv});
    const vt_text_relevance_qk_params p{1.0f, r.u8() % 2, r.u8() % 2};
    const int32_t st = vt_text_relevance_qk(nullptr, &qv, &kv_, &qov, &kov, &qpv, &vov, &vpv, &ov, &p, nullptr, 0);
    if (st != VT_OK) {
        INVARIANT(op, rejected_as_bad_input(st));
        return;
    }
    for (float x : out) INVARIANT(op, x >= 0.0f && x <= 1.0f + 1e-4f);
}

void fuzz_fused_topk(Reader& r) {
    constexpr const char* op = "vt_fused_topk";
    const int64_t tiles = r.small(1, 4);
    std::vector<int64_t> off = r.offsets(tiles, 8);
    bool valid = off[0] == 0;
    for (int64_t t = 0; t < tiles; ++t) valid &= off[t + 1] >= off[t];
    if (valid && off[tiles] > 64) return;  // valid but too big to allocate here
    std::vector<int64_t> budgets(static_cast<size_t>(tiles));
    for (int64_t& b : budgets) b = r.u8() == 255 ? r.wild() : r.small(0, 9);
    const int64_t n = valid ? off[tiles] : 1;
    std::vector<float> b(size_t(std::max<int64_t>(n, 1))), c(b.size()), fused(b.size(), -7.0f);
    r.fill(b);
    r.fill(c);
    std::vector<int64_t> kept(b.size(), -7), per_tile(size_t(tiles), -7);
    const float alpha = float(r.small(0, 4)) / 4.0f;
    const int32_t norm = r.u8() % 2;
    const vt_tensor bv = view(b.data(), {n}), cv = view(c.data(), {n}), ov = view(off.data(), {tiles + 1}),
                    budv = view(budgets.data(), {tiles}), fv = view(fused.data(), {n}), kv = view(kept.data(), {n}),
                    pv = view(per_tile.data(), {tiles});
    const vt_fused_topk_params p{alpha, norm};
    const int32_t st = vt_fused_topk(nullptr, &bv, &cv, &ov, &budv, &fv, &kv, &pv, &p);
    if (!valid) {
        INVARIANT(op, st != VT_OK);
        return;
    }
    if (st != VT_OK) {
        INVARIANT(op, rejected_as_bad_input(st));
        return;
    }
    int64_t w = 0;
    for (int64_t t = 0; t < tiles; ++t) {
        const int64_t nt = off[t + 1] - off[t];
        INVARIANT(op, per_tile[t] == std::min(budgets[t], nt));
        for (int64_t i = 0; i < per_tile[t]; ++i, ++w) {
            INVARIANT(op, kept[w] >= off[t] && kept[w] < off[t + 1]);
            INVARIANT(op, i == 0 || kept[w] > kept[w - 1]);
        }
    }
    for (int64_t i = w; i < n; ++i) INVARIANT(op, kept[i] == -1);
    for (int64_t i = 0; i < n; ++i) INVARIANT(op, !std::isnan(fused[i]));
}

void fuzz_region_budget(Reader& r) {
    constexpr const char* op = "vt_region_budget";
    const int64_t images = r.small(1, 2), dim = r.small(1, 4);
    std::vector<int64_t> tile_off{0};
    for (int64_t b = 0; b < images; ++b) tile_off.push_back(tile_off.back() + r.small(1, 4));
    const int64_t tiles = tile_off.back();
    std::vector<int64_t> tok_off{0};
    for (int64_t t = 0; t < tiles; ++t) {
        const uint8_t k = r.u8();
        const int64_t n = k < 240 ? k % 50 : int64_t(r.u64() >> (2 + k % 16));
        if (tok_off.back() > INT64_MAX - n) return;
        tok_off.push_back(tok_off.back() + n);
    }
    std::vector<float> cls(size_t(tiles * dim)), scores(static_cast<size_t>(tiles)), weights(static_cast<size_t>(tiles));
    r.fill(cls);
    std::vector<int64_t> budgets(size_t(tiles), -7);
    const double keep = double(r.u8()) / 255.0;
    const uint8_t tk = r.u8();
    const double temperature = tk < 250 ? 0.05 * (1 + tk % 40) : tk == 250 ? 1e-310 : tk == 251 ? 2.3e-308 : 1e300;
    const int64_t min_per_tile = r.small(0, 8);
    const vt_tensor c = view(cls.data(), {tiles, dim}), to = view(tile_off.data(), {images + 1}),
                    ko = view(tok_off.data(), {tiles + 1}), s = view(scores.data(), {tiles}),
                    w = view(weights.data(), {tiles}), bu = view(budgets.data(), {tiles});
    const vt_region_budget_params p{keep, temperature, min_per_tile};
    const int32_t st = vt_region_budget(nullptr, &c, &to, &ko, &s, &w, &bu, &p);
    if (st != VT_OK) {
        INVARIANT(op, rejected_as_bad_input(st));
        return;
    }
    for (int64_t b = 0; b < images; ++b) {
        int64_t sum = 0, tokens = 0;
        for (int64_t t = tile_off[b]; t + 1 < tile_off[b + 1]; ++t) {
            const int64_t n = tok_off[t + 1] - tok_off[t];
            INVARIANT(op, budgets[t] >= 0 && budgets[t] <= n);
            INVARIANT(op, weights[t] >= 0.0f && weights[t] <= 1.0f);
            sum += budgets[t];
            tokens += n;
        }
        if (tile_off[b + 1] - tile_off[b] > 1) {
            const double k = std::floor(keep * double(tokens) + 0.5);
            const int64_t want = k >= double(tokens) ? tokens : int64_t(k);
            INVARIANT(op, sum == want);
        }
        const int64_t thumb = tile_off[b + 1] - 1, ng = tok_off[thumb + 1] - tok_off[thumb];
        INVARIANT(op, budgets[thumb] >= 0 && budgets[thumb] <= ng);
    }
}

void fuzz_text_relevance(Reader& r) {
    constexpr const char* op = "vt_text_relevance";
    const int64_t images = r.small(1, 3), heads = r.small(1, 3);
    std::vector<int64_t> qo = r.offsets(images, 4), vo = r.offsets(images, 5);
    bool valid = qo[0] == 0 && vo[0] == 0;
    int64_t elements = 0;
    for (int64_t b = 0; b < images; ++b) valid &= qo[b + 1] >= qo[b] && vo[b + 1] >= vo[b];
    if (valid && (qo[images] > 64 || vo[images] > 64)) return;  // valid but too big to allocate here
    for (int64_t b = 0; valid && b < images; ++b) elements += heads * (qo[b + 1] - qo[b]) * (vo[b + 1] - vo[b]);
    std::vector<float> attn(valid ? size_t(elements) : 1), out(valid ? static_cast<size_t>(vo[images]) : 1, -7.0f);
    // Probabilities in [0, 1] (bytes below 200 give multiples of 1/200), sometimes raw values.
    const bool probabilities = r.u8() < 200;
    for (float& x : attn) x = probabilities ? float(r.u8() % 201) / 200.0f : r.value();
    const vt_tensor av = view(attn.empty() ? nullptr : attn.data(), {int64_t(attn.size())}),
                    qov = view(qo.data(), {images + 1}), vov = view(vo.data(), {images + 1}),
                    ov = view(out.empty() ? nullptr : out.data(), {int64_t(out.size())});
    const vt_text_relevance_params p{heads, r.u8() % 2, r.u8() % 2};
    const int32_t st = vt_text_relevance(nullptr, &av, &qov, &vov, &ov, &p);
    if (!valid) {
        INVARIANT(op, st != VT_OK);
        return;
    }
    INVARIANT(op, st == VT_OK);
    if (probabilities) {
        for (float x : out) INVARIANT(op, x >= 0.0f && x <= 1.0f + 1e-5f);
    }
}

// One contiguous [seqs, heads, m, m] view per layer buffer.
std::vector<vt_tensor> layer_views(const std::vector<std::vector<float>>& data, int64_t seqs, int64_t heads, int64_t m) {
    std::vector<vt_tensor> views;
    for (auto& layer : data) views.push_back(view(layer.data(), {seqs, heads, m, m}));
    return views;
}

// Rollout inputs shared by the probability and matrix forms: row-stochastic layers from the bytes.
std::vector<std::vector<float>> stochastic_layers(Reader& r, int64_t layers, int64_t rows, int64_t m) {
    std::vector<std::vector<float>> data(static_cast<size_t>(layers));
    for (auto& layer : data) {
        layer.resize(size_t(rows * m));
        for (int64_t row = 0; row < rows; ++row) {
            float sum = 0.0f;
            for (int64_t j = 0; j < m; ++j) sum += layer[row * m + j] = float(1 + r.u8() % 16);
            for (int64_t j = 0; j < m; ++j) layer[row * m + j] /= sum;
        }
    }
    return data;
}

void fuzz_rollout(Reader& r) {
    constexpr const char* op = "vt_rollout";
    const int64_t layers = r.small(1, 3), seqs = r.small(1, 2), heads = r.small(1, 2), m = r.small(2, 9);
    const int32_t mode = r.u8() % 2;
    // Rows of non-negative weights normalised to sum 1, as attention probabilities are.
    auto data = stochastic_layers(r, layers, seqs * heads * m, m);
    const std::vector<vt_tensor> lv = layer_views(data, seqs, heads, m);
    const bool with_values = r.u8() % 2;
    const int64_t dv = r.small(1, 4);
    std::vector<float> values(with_values ? size_t(seqs * m * dv) : 0);
    r.fill(values);
    std::vector<float> cls_row(size_t(seqs * m), -7.0f), importance(size_t(seqs * (m - 1)), -7.0f);
    const vt_tensor vv = view(values.data(), {seqs, m, dv}), cv = view(cls_row.data(), {seqs, m}),
                    iv = view(importance.data(), {seqs, m - 1});
    const vt_rollout_params p{layers, mode};
    const int32_t st = vt_rollout(nullptr, lv.data(), with_values ? &vv : nullptr, &cv, &iv, &p, nullptr, 0);
    if (with_values && !finite_all(values)) {
        INVARIANT(op, rejected_as_bad_input(st));
        return;
    }
    INVARIANT(op, st == VT_OK);
    // Products of row-stochastic matrices: the CLS row is a distribution.
    for (int64_t s = 0; s < seqs; ++s) {
        float sum = 0.0f;
        for (int64_t j = 0; j < m; ++j) {
            INVARIANT(op, cls_row[s * m + j] >= 0.0f);
            sum += cls_row[s * m + j];
        }
        INVARIANT(op, std::fabs(sum - 1.0f) < 1e-4f);
    }
    for (float x : importance) INVARIANT(op, !std::isnan(x) && x >= 0.0f && x <= 1.0f + 1e-5f);
}


// K3 from Q/K must agree with K3 from the probabilities softmax(scale q k^T) it implies, which
// the harness computes in float64: the flash form is checked against the plain one on every
// input, in the strided [seqs, M, heads, d] layout of a packed projection.
void fuzz_rollout_qk(Reader& r) {
    constexpr const char* op = "vt_rollout_qk";
    const int64_t layers = r.small(1, 3), seqs = r.small(1, 2), heads = r.small(1, 2), d = r.small(1, 6);
    int64_t m = r.small(2, 9);
    int64_t token_stride = heads * d, head_stride = d, seq_stride = m * heads * d;
    if (r.u8() >= 224) {
        switch (r.u8() % 4) {
            case 0: m = r.wild(); break;
            case 1: seq_stride = r.wild(); break;
            case 2: head_stride = r.wild(); break;
            default: token_stride = r.wild(); break;
        }
    }
    const int32_t mode = r.u8() % 2;
    const float scale = r.u8() < 250 ? 0.125f * float(r.small(1, 16)) : 1e30f;
    // The elements a strided layer spans, as the header defines them, or -1 when the arguments
    // are out of contract or it overflows.
    __int128 extent = -1;
    if (m >= 2 && seq_stride >= 0 && head_stride >= 0 && token_stride >= 0) {
        extent = __int128(seqs - 1) * seq_stride + __int128(heads - 1) * head_stride + __int128(m - 1) * token_stride + d;
        if (extent > INT64_MAX / 4 || __int128(seqs) * heads * m > INT64_MAX / 4) extent = -1;
    }
    auto layer_view = [&](const float* data) {
        return vtv::strided(data, VT_FLOAT32, {seqs, heads, m, d}, {seq_stride, head_stride, token_stride, 1});
    };
    const vt_rollout_qk_params p{layers, scale, mode};
    if (extent < 0) {
        // Must be refused before anything is read through the 1-element buffers.
        float dummy[1] = {0.0f}, out[1] = {-7.0f};
        const vt_tensor lv[3] = {layer_view(dummy), layer_view(dummy), layer_view(dummy)};
        const vt_tensor ov = view(out, {1, 1});
        const int32_t st = vt_rollout_qk(nullptr, lv, lv, nullptr, &ov, &ov, &p, nullptr, 0);
        INVARIANT(op, st != VT_OK);
        return;
    }
    if (extent > kMaxElements || m > 64) return;  // valid but too big to allocate here
    const size_t n = size_t(extent);
    std::vector<std::vector<float>> q(static_cast<size_t>(layers), std::vector<float>(n)), k = q;
    std::vector<vt_tensor> qp, kp;
    for (int64_t l = 0; l < layers; ++l) {
        r.fill(q[l]);
        r.fill(k[l]);
        qp.push_back(layer_view(q[l].data()));
        kp.push_back(layer_view(k[l].data()));
    }
    const bool with_values = r.u8() % 2;
    const int64_t dv = r.small(1, 4);
    std::vector<float> values(with_values ? size_t(seqs * m * dv) : 0);
    for (float& v : values) v = float(int(r.u8()) - 128) / 32.0f;
    std::vector<float> cls_row(size_t(seqs * m), -7.0f), importance(size_t(seqs * (m - 1)), -7.0f);
    const vt_tensor vv = view(values.data(), {seqs, m, dv}), cv = view(cls_row.data(), {seqs, m}),
                    iv = view(importance.data(), {seqs, m - 1});
    const int32_t st = vt_rollout_qk(nullptr, qp.data(), kp.data(), with_values ? &vv : nullptr, &cv, &iv, &p, nullptr, 0);
    if (st != VT_OK) {
        INVARIANT(op, rejected_as_bad_input(st));
        return;
    }
    for (float x : cls_row) INVARIANT(op, x >= 0.0f && x <= 1.0f + 1e-5f);
    for (float x : importance) INVARIANT(op, x >= 0.0f && x <= 1.0f + 1e-5f);
    // Both forms skip the rows whose chain weight is exactly 0, but the approximate exp flushes
    // weights below e^-87.3 to 0 where the float64 probabilities keep a subnormal: a NaN in such
    // a row is skipped by the Q/K form and read by the reference (found by the CI smoke run,
    // 2026-12-03). With non-finite q or k only the status and ranges above are the contract.
    for (int64_t l = 0; l < layers; ++l) {
        if (!finite_all(q[l]) || !finite_all(k[l])) return;
    }
    // The probabilities the Q/K form implies, [seqs, heads, M, M] per layer, in float64. A float32
    // logit is only good to about d * eps * scale * sum |q_e k_e|: inputs where that reaches 1e-4
    // (huge values cancelling) are compared on the invariants alone.
    double worst_error = 0.0;
    std::vector<std::vector<float>> probs(static_cast<size_t>(layers), std::vector<float>(size_t(seqs * heads * m * m)));
    for (int64_t l = 0; l < layers; ++l) {
        for (int64_t s = 0; s < seqs; ++s)
            for (int64_t h = 0; h < heads; ++h)
                for (int64_t i = 0; i < m; ++i) {
                    std::vector<double> logit(static_cast<size_t>(m));
                    double top = -INFINITY, sum = 0.0;
                    for (int64_t j = 0; j < m; ++j) {
                        double dot = 0.0, magnitude = 0.0;
                        for (int64_t e = 0; e < d; ++e) {
                            const double p = double(q[l][s * seq_stride + i * token_stride + h * head_stride + e]) *
                                             double(k[l][s * seq_stride + j * token_stride + h * head_stride + e]);
                            dot += p;
                            magnitude += std::fabs(p);
                        }
                        logit[j] = double(scale) * dot;
                        worst_error = std::max(worst_error, double(d) * 1.2e-7 * double(scale) * magnitude);
                        top = std::max(top, logit[j]);
                    }
                    for (int64_t j = 0; j < m; ++j) sum += std::exp(logit[j] - top);
                    for (int64_t j = 0; j < m; ++j) {
                        probs[l][((s * heads + h) * m + i) * m + j] = float(std::exp(logit[j] - top) / sum);
                    }
                }
    }
    if (worst_error > 1e-4) return;
    const std::vector<vt_tensor> pp = layer_views(probs, seqs, heads, m);
    std::vector<float> ref_row(cls_row.size()), ref_imp(importance.size());
    const vt_tensor rv = view(ref_row.data(), {seqs, m}), riv = view(ref_imp.data(), {seqs, m - 1});
    const vt_rollout_params pr{layers, mode};
    INVARIANT(op, vt_rollout(nullptr, pp.data(), with_values ? &vv : nullptr, &rv, &riv, &pr, nullptr, 0) == VT_OK);
    for (size_t i = 0; i < cls_row.size(); ++i) INVARIANT(op, std::fabs(cls_row[i] - ref_row[i]) <= 1e-4f);
    // Importance divides by a sum that can be tiny: compare relative to the row's scale.
    // Importance divides by the patches' weighted mass: where that is tiny (the CLS keeps nearly
    // all of the row) rounding of the row is amplified without bound, so compare only where the
    // mass is at least 1e-2.
    for (int64_t s = 0; s < seqs; ++s) {
        double mass = 0.0;
        for (int64_t j = 1; j < m; ++j) {
            double norm = 1.0;
            if (with_values) {
                norm = 0.0;
                for (int64_t e = 0; e < dv; ++e) norm += double(values[(s * m + j) * dv + e]) * values[(s * m + j) * dv + e];
                norm = std::sqrt(norm);
            }
            mass += double(ref_row[s * m + j]) * norm;
        }
        if (mass < 1e-2) continue;
        for (int64_t j = 0; j + 1 < m; ++j) {
            INVARIANT(op, std::fabs(importance[s * (m - 1) + j] - ref_imp[s * (m - 1) + j]) <= 2e-3f);
        }
    }
}

// The full rollout matrix: a product of row-stochastic matrices is row-stochastic (in IVTP mode
// every B_l is; in ABNAR mode R starts from I), and its CLS row is vt_rollout's cls_row.
void fuzz_rollout_matrix(Reader& r) {
    constexpr const char* op = "vt_rollout_matrix";
    const int64_t layers = r.small(1, 3), seqs = r.small(1, 2), heads = r.small(1, 2), m = r.small(2, 9);
    const int32_t mode = r.u8() % 2;
    auto data = stochastic_layers(r, layers, seqs * heads * m, m);
    const std::vector<vt_tensor> lv = layer_views(data, seqs, heads, m);
    INVARIANT(op, vt_rollout_matrix_workspace_bytes(lv.data()) == 0);  // (host views)
    std::vector<float> matrix(size_t(seqs * m * m), -7.0f);
    const vt_tensor mv = view(matrix.data(), {seqs, m, m});
    const vt_rollout_params p{layers, mode};
    const int32_t st = vt_rollout_matrix(nullptr, lv.data(), &mv, &p, nullptr, 0);
    INVARIANT(op, st == VT_OK);
    for (int64_t row = 0; row < seqs * m; ++row) {
        float sum = 0.0f;
        for (int64_t j = 0; j < m; ++j) {
            INVARIANT(op, matrix[row * m + j] >= 0.0f);
            sum += matrix[row * m + j];
        }
        INVARIANT(op, std::fabs(sum - 1.0f) < 1e-4f);
    }
    {
        std::vector<float> cls_row(size_t(seqs * m)), importance(size_t(seqs * (m - 1)));
        const vt_tensor cv = view(cls_row.data(), {seqs, m}), iv = view(importance.data(), {seqs, m - 1});
        INVARIANT(op, vt_rollout(nullptr, lv.data(), nullptr, &cv, &iv, &p, nullptr, 0) == VT_OK);
        for (int64_t s = 0; s < seqs; ++s)
            for (int64_t j = 0; j < m; ++j) INVARIANT(op, std::fabs(matrix[s * m * m + j] - cls_row[s * m + j]) < 1e-5f);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    vt_set_num_threads(1);  // deterministic and fast; the pool has its own stress test
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Reader r{data, size};
    switch (r.u8() % 9) {
        case 0: fuzz_cls_saliency(r); break;
        case 1: fuzz_cls_saliency_qk(r); break;
        case 2: fuzz_text_relevance_qk(r); break;
        case 3: fuzz_fused_topk(r); break;
        case 4: fuzz_region_budget(r); break;
        case 5: fuzz_text_relevance(r); break;
        case 6: fuzz_rollout(r); break;
        case 7: fuzz_rollout_qk(r); break;
        default: fuzz_rollout_matrix(r); break;
    }
    return 0;
}
