// A minimal test harness for the C ABI tests: TEST(name) registers a case, EXPECT_* record a
// failure (with the file and line) and carry on, and run_all() returns the exit status, so one
// run lists every broken case rather than the first.
#pragma once

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "vtprune/vtprune.h"

namespace vtt {

struct Case {
    const char* name;
    std::function<void()> fn;
};

inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}

inline int& failures() {
    static int n = 0;
    return n;
}

struct Register {
    Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void fail(const char* file, int line, const std::string& what) {
    ++failures();
    std::printf("  FAIL %s:%d: %s\n", file, line, what.c_str());
}

// Runs the cases whose name contains `filter` (all when null).
inline int run_all(const char* filter) {
    int ran = 0, failed = 0;
    for (const Case& c : registry()) {
        if (filter && !std::strstr(c.name, filter)) continue;
        const int before = failures();
        c.fn();
        ++ran;
        const bool ok = failures() == before;
        failed += !ok;
        std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    }
    std::printf("%d case(s), %d failed\n", ran, failed);
    return failed == 0 && ran > 0 ? 0 : 1;
}

}  // namespace vtt

#define VTT_CAT2(a, b) a##b
#define VTT_CAT(a, b) VTT_CAT2(a, b)
#define TEST(name)                                                         \
    static void name();                                                    \
    static const vtt::Register VTT_CAT(register_, name)(#name, name);      \
    static void name()

#define EXPECT_TRUE(cond)                                                  \
    do {                                                                   \
        if (!(cond)) vtt::fail(__FILE__, __LINE__, "expected " #cond);     \
    } while (0)

// A call that must fail with `status` and a last-error message containing `needle`.
#define EXPECT_STATUS(status, call, needle)                                                            \
    do {                                                                                               \
        const int32_t got_ = (call);                                                                   \
        const std::string msg_ = vt_last_error();                                                      \
        if (got_ != (status) || msg_.find(needle) == std::string::npos) {                              \
            vtt::fail(__FILE__, __LINE__,                                                              \
                      std::string(#call) + " -> status " + std::to_string(got_) + " (want " +          \
                          std::to_string(status) + "), message \"" + msg_ + "\" (want \"" + (needle) + \
                          "\")");                                                                      \
        }                                                                                              \
    } while (0)

#define EXPECT_OK(call)                                                                                   \
    do {                                                                                                  \
        const int32_t got_ = (call);                                                                      \
        if (got_ != VT_OK) {                                                                              \
            vtt::fail(__FILE__, __LINE__,                                                                 \
                      std::string(#call) + " -> status " + std::to_string(got_) + ": " + vt_last_error()); \
        }                                                                                                 \
    } while (0)
