// C ABI regression tests (issue 13): every case is one call that used to crash, wrap, hang or
// return OK with garbage, and must now fail with a status and a message naming the argument
// (or succeed with the exact result). Usage: vtprune_abi_test [name-filter]
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "check.hpp"

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

}  // namespace

TEST(version_is_reported) { EXPECT_TRUE(std::string(vt_version()) == "0.1.0"); }

int main(int argc, char** argv) { return vtt::run_all(argc > 1 ? argv[1] : nullptr); }
