// The budget arithmetic of K1, shared verbatim by the CPU and CUDA implementations so that
// both produce the same integers from the same scores (host and device double arithmetic is
// IEEE-exact for + - * / and floor).
#pragma once

#include <cmath>
#include <cstdint>

#include "host_device.hpp"

namespace vt {

// Local tiles one image may have (InternVL uses at most 40, LLaVA-NeXT 9): the CUDA kernel
// keeps per-tile state in shared memory sized by this bound.
constexpr int64_t kMaxLocalTiles = 1024;

// K = floor(keep * n + 0.5), the rounding of the thumbnail budget and of K_L, for keep in
// [0, 1]: at most n. (Near 2^63, double(n) rounds up to 2^63, whose cast to int64 wrapped to
// INT64_MIN.)
VT_HD inline int64_t round_budget(double keep, int64_t n) {
    const double k = floor(keep * static_cast<double>(n) + 0.5);
    return k >= static_cast<double>(n) ? n : static_cast<int64_t>(k);
}

// Splits `total` tokens (0 <= total <= sum cap) over `count` tiles in proportion to
// `weight` (>= 0), tile t holding at most cap[t] (>= 0):
//   x_t = w_t / W * total; tiles with x_t >= cap_t are capped and removed, and the rest is
//   re-split over the remaining tiles by their renormalised weights until no new cap; then
//   K_t = floor(x_t) and the remainder goes one token each to the largest fractional parts,
//   ties to the lower tile index. sum K_t == total exactly.
// If every remaining weight is 0 (softmax underflow), the rest is split evenly.
// `x` and `state` are scratch arrays of `count` entries.
VT_HD inline void split_capped(int64_t count, const double* weight, const int64_t* cap, int64_t total,
                               double* x, unsigned char* state, int64_t* out) {
    enum : unsigned char { kActive = 0, kCapped = 1, kGiven = 2 };
    int64_t remaining = total;
    for (int64_t t = 0; t < count; ++t) state[t] = cap[t] <= 0 ? kCapped : kActive;
    for (;;) {
        double w_sum = 0.0;
        int64_t active = 0;
        for (int64_t t = 0; t < count; ++t) {
            if (state[t] == kActive) {
                w_sum += weight[t];
                ++active;
            }
        }
        if (active == 0) break;
        bool new_cap = false;
        for (int64_t t = 0; t < count; ++t) {
            if (state[t] != kActive) continue;
            x[t] = w_sum > 0.0 ? weight[t] / w_sum * static_cast<double>(remaining)
                               : static_cast<double>(remaining) / static_cast<double>(active);
        }
        for (int64_t t = 0; t < count; ++t) {
            if (state[t] == kActive && x[t] >= static_cast<double>(cap[t])) {
                state[t] = kCapped;
                remaining -= cap[t];
                new_cap = true;
            }
        }
        if (!new_cap) break;
    }
    int64_t rest = remaining;
    for (int64_t t = 0; t < count; ++t) {
        if (state[t] == kCapped) {
            out[t] = cap[t];
            x[t] = static_cast<double>(cap[t]);  // fractional part 0 for the correction below
        } else {
            const double f = floor(x[t]);
            out[t] = f <= 0.0 ? 0 : static_cast<int64_t>(f);  // f < cap[t] <= INT64_MAX
            rest -= out[t];
        }
    }
    // Exact arithmetic gives 0 <= rest < active tiles, handed out one token each to the largest
    // fractional parts, lower index on ties. Above 2^53 tokens the rounding of x can also leave
    // rest < 0 (the floors sum past total): tokens are then taken back one each from the
    // smallest fractional parts, higher index on ties. Round-robin over tiles either way, so
    // sum == total whenever 0 <= total <= sum cap.
    while (rest != 0) {
        const bool give = rest > 0;
        int64_t best = -1;
        double best_frac = 0.0;
        for (int64_t t = 0; t < count; ++t) {
            if (state[t] != kActive || (give ? out[t] >= cap[t] : out[t] <= 0)) continue;
            const double frac = x[t] - floor(x[t]);
            if (best < 0 || (give ? frac > best_frac : frac <= best_frac)) {
                best_frac = frac;
                best = t;
            }
        }
        if (best < 0) {  // every tile that can move has had its turn: start another round
            bool any = false;
            for (int64_t t = 0; t < count; ++t) {
                if (state[t] != kActive && (give ? out[t] < cap[t] : out[t] > 0)) {
                    state[t] = kActive;
                    any = true;
                }
            }
            if (!any) break;  // unreachable while 0 <= total <= sum cap
            continue;
        }
        out[best] += give ? 1 : -1;
        state[best] = kGiven;
        rest += give ? -1 : 1;
    }
}

}  // namespace vt

namespace vt {

// Weights and budgets of one image from the cosines of its `local` tiles (design §3 K1).
// n[t] are the token counts of its local tiles and n[local] the thumbnail's. Scratch:
// p, x (double) and cap (int64) and state (byte), `local` entries each.
VT_HD inline void image_budgets(int64_t local, const double* cosine, const int64_t* n,
                                double keep, double temperature, int64_t min_per_tile,
                                double* p, double* x, int64_t* cap, unsigned char* state,
                                float* weights, int64_t* budgets) {
    budgets[local] = round_budget(keep, n[local]);
    weights[local] = 0.0f;
    if (local == 0) return;

    double top = -INFINITY;
    for (int64_t t = 0; t < local; ++t) top = fmax(top, cosine[t] / temperature);
    double sum = 0.0;
    for (int64_t t = 0; t < local; ++t) {
        p[t] = exp(cosine[t] / temperature - top);
        sum += p[t];
    }
    int64_t tokens = 0;
    for (int64_t t = 0; t < local; ++t) {
        p[t] /= sum;
        weights[t] = static_cast<float>(p[t]);
        tokens += n[t];
    }
    int64_t k_local = round_budget(keep, tokens);
    int64_t reserve = min_per_tile < k_local / local ? min_per_tile : k_local / local;
    int64_t rest = k_local;
    for (int64_t t = 0; t < local; ++t) {
        int64_t r = reserve < n[t] ? reserve : n[t];
        cap[t] = n[t] - r;
        rest -= r;
    }
    split_capped(local, p, cap, rest, x, state, budgets);
    for (int64_t t = 0; t < local; ++t) budgets[t] += n[t] - cap[t];
}

}  // namespace vt
