// The main of every gtest binary (mmv_add_gtest): gtest's own, after the
// environment is checked. A test binary that does not read MMV_FAULT would
// otherwise run its tests without the fault a typo like MMV_FAULT=kNope
// meant, and pass -- under ctest too. So an unknown name ends every test
// binary with exit status 2 and the list of names
// (impl::fault_from_env_or_exit); a known one is switched on only by the
// binaries that read it (docs/command-lines.md).
#include <gtest/gtest.h>

#include "impl/fault_switch.h"

int main(int argc, char** argv) {
  (void)mmv::impl::fault_from_env_or_exit();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
