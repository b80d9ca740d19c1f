// Status codes and the thread-local last-error text behind vt_last_error().
//
// Implementations report failure by throwing vt::Error (or any std::exception); the
// entry points in api.cpp run every op inside vt::guard(), which turns the exception into a
// status code and the message. No exception ever crosses the C ABI.
#pragma once

#include <cstdarg>
#include <exception>
#include <new>
#include <string>

#include "vtprune/vtprune.h"

namespace vt {

class Error : public std::exception {
public:
    Error(vt_status status, std::string message) : status_(status), message_(std::move(message)) {}
    vt_status status() const noexcept { return status_; }
    const char* what() const noexcept override { return message_.c_str(); }

private:
    vt_status status_;
    std::string message_;
};

// printf-style formatting into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Throws VT_ERR_INVALID_ARGUMENT with "<op>: argument '<arg>' <detail>".
[[noreturn]] void invalid_argument(const char* op, const char* arg, const std::string& detail);

// Throws VT_ERR_NONFINITE with the same message form: the arguments were in contract, but what
// they compute overflowed (the caller treats it as bad input, like an invalid argument).
[[noreturn]] void non_finite(const char* op, const char* arg, const std::string& detail);

void set_last_error(const std::string& message);
void clear_last_error();

// Runs fn() and maps what it throws to a status; sets the last-error text on failure.
template <class Fn>
int32_t guard(const char* op, Fn&& fn) noexcept {
    try {
        clear_last_error();
        fn();
        return VT_OK;
    } catch (const Error& e) {
        set_last_error(e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(std::string(op) + ": out of host memory");
        return VT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(std::string(op) + ": internal error: " + e.what());
        return VT_ERR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(op) + ": internal error: unknown exception");
        return VT_ERR_INTERNAL;
    }
}

}  // namespace vt
