// Printing the model's state, and a readable diff of two states.
//
// Both are built on facts(): the state as an ordered map from a stable key
// ("vma 0x10000", "page 0x11000", "folio 3", "file 1 page 2", "rss", ...) to
// a one-line value, so a diff is just the keys whose values differ.
#pragma once

#include <map>
#include <ostream>
#include <string>

#include "model/system.h"

namespace mmv::model {

std::map<std::string, std::string> facts(const System& s);
std::string describe(const System& s);
// "" when equal; else one line per differing fact: "key: a-value | b-value".
std::string diff(const System& a, const System& b);
std::ostream& operator<<(std::ostream& os, const System& s);

}  // namespace mmv::model
