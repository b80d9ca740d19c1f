#include "core/error.hpp"

#include <cstdio>
#include <vector>

namespace vt {

namespace {
thread_local std::string last_error;
}

std::string format(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
    va_end(args);
    return out;
}

void invalid_argument(const char* op, const char* arg, const std::string& detail) {
    throw Error(VT_ERR_INVALID_ARGUMENT, format("%s: argument '%s' %s", op, arg, detail.c_str()));
}

void non_finite(const char* op, const char* arg, const std::string& detail) {
    throw Error(VT_ERR_NONFINITE, format("%s: argument '%s' %s", op, arg, detail.c_str()));
}

void set_last_error(const std::string& message) { last_error = message; }
void clear_last_error() { last_error.clear(); }

}  // namespace vt

extern "C" VT_API const char* vt_last_error(void) { return vt::last_error.c_str(); }
