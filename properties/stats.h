// What the properties actually exercised: commands by kind and the edge
// cases they reached (a THP mapped and split, an EBUSY insert, a rejected
// zap, an injected ENOMEM, fault-around, teardown, ...). Each case is also
// classified with RC_CLASSIFY, and at exit the binary prints one line per
// property family:
//   properties: <cases> cases, <commands> commands in <s> s (<cases>/s,
//   <commands>/s); ops: ...; edge cases: ...
// which scripts/verify shows, and then the reach table (properties/reach.h).
// A property that never reaches a PMD split or an EBUSY insert is not
// testing them; this is how we know.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include "model/system.h"
#include "properties/reach.h"
#include "testing/command.h"

namespace mmv::props {

class Stats {
 public:
  void begin_case();
  // Inside the property: classifies the case (RC_CLASSIFY).
  void end_case();
  // `tlb`: what the impl's TLBs held before the command (the reach
  // table's sizes, properties/reach.h); empty where it was not read.
  void count(const cmd::Command& c, const std::string& outcome, const model::System& before,
             const model::System& after, const TlbView& tlb = {});
  std::string summary() const;
  const Reach& reach() const { return reach_; }
  // No summary line at exit (for binaries that run properties against
  // deliberately broken builds, whose counts are not coverage).
  void mute() { muted_ = true; }
  bool muted() const { return muted_; }

 private:
  bool muted_ = false;
  std::uint64_t cases_ = 0;
  // Wall time from the first case to the end of the last: the rate the
  // summary prints (cases/s, commands/s), property checks included.
  std::chrono::steady_clock::time_point first_case_{};
  std::chrono::steady_clock::time_point last_case_end_{};
  std::uint64_t commands_ = 0;
  std::array<std::uint64_t, cmd::kNumOps> ops_{};
  std::map<std::string, std::uint64_t> edges_;
  std::map<std::string, bool> case_edges_;
  Reach reach_;
};

Stats& stats();

}  // namespace mmv::props
