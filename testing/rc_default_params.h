// Deterministic RapidCheck runs by default. Use once per test binary, at
// namespace scope:
//
//   MMV_RC_DEFAULT_PARAMS("seed=20250601 max_success=1000 max_size=40");
//
// It sets RC_PARAMS during static initialization unless the environment
// already has it, so a plain run (ctest, CI) always replays the same cases,
// while RC_PARAMS="seed=..." or "reproduce=..." still take over. RapidCheck
// reads RC_PARAMS once, when the first property runs, after static init.
#pragma once

#include <cstdlib>

namespace mmv::testing {

inline bool set_default_rc_params(const char* params) {
  return setenv("RC_PARAMS", params, /*overwrite=*/0) == 0;
}

}  // namespace mmv::testing

#define MMV_RC_DEFAULT_PARAMS(params)                   \
  [[maybe_unused]] static const bool mmv_rc_defaults_ = \
      ::mmv::testing::set_default_rc_params(params)
