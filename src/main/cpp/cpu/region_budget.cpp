// K1 on the CPU: cosine of every local tile's CLS with its image's thumbnail CLS (fp64
// accumulation), then the shared budget arithmetic of core/budget.hpp.
#include <cmath>
#include <vector>

#include "core/budget.hpp"
#include "core/dtype.hpp"
#include "core/ops.hpp"

namespace vt::cpu {

namespace {

// fp64 dot product; four partial sums break the dependency chain of one running sum.
template <class T>
double dot(const T* a, const T* b, int64_t n) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int k = 0; k < 4; ++k) s[k] += double(to_float(a[i + k])) * double(to_float(b[i + k]));
    }
    for (; i < n; ++i) s[0] += double(to_float(a[i])) * double(to_float(b[i]));
    return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace

void region_budget(const RegionBudgetArgs& a) {
    dispatch_dtype("vt_region_budget", a.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* cls = static_cast<const T*>(a.cls);
        std::vector<double> cosine, p, x;
        std::vector<int64_t> n, cap;
        std::vector<unsigned char> state;
        for (int64_t b = 0; b < a.num_images; ++b) {
            const int64_t first = a.tile_offsets[b];
            const int64_t thumb = a.tile_offsets[b + 1] - 1;
            const int64_t local = thumb - first;
            const T* g = cls + thumb * a.dim;
            const double g_norm = local > 0 ? std::sqrt(dot(g, g, a.dim)) : 0.0;  // unused without local tiles
            cosine.resize(local);
            p.resize(local);
            x.resize(local);
            cap.resize(local);
            state.resize(local);
            n.resize(local + 1);
            for (int64_t t = 0; t <= local; ++t) n[t] = a.token_offsets[first + t + 1] - a.token_offsets[first + t];
            for (int64_t t = 0; t < local; ++t) {
                const T* c = cls + (first + t) * a.dim;
                const double denom = std::fmax(std::sqrt(dot(c, c, a.dim)) * g_norm, 1e-8);
                cosine[t] = dot(c, g, a.dim) / denom;
                if (!std::isfinite(cosine[t])) {
                    invalid_argument("vt_region_budget", "cls",
                                     format("holds NaN or infinite values (tile %lld or its thumbnail %lld)",
                                            static_cast<long long>(first + t), static_cast<long long>(thumb)));
                }
                a.scores[first + t] = static_cast<float>(cosine[t]);
            }
            a.scores[thumb] = 1.0f;
            image_budgets(local, cosine.data(), n.data(), a.keep_ratio, a.temperature, a.min_per_tile,
                          p.data(), x.data(), cap.data(), state.data(), a.weights + first, a.budgets + first);
        }
    });
}

}  // namespace vt::cpu
