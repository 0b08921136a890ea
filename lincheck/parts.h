// A recorded history (lincheck/history_file.h) as the checker's parts: the
// register as one part, a key-value store one part per key (lin::KvKey),
// each operation with the record it came from. Shared by the lincheck tool
// and the checker's benchmark (bench/lincheck_bench.cc), so that the
// benchmark checks exactly what the tool does.
#pragma once

#include <string>
#include <vector>

#include "lincheck/history_file.h"
#include "lincheck/lincheck.h"
#include "lincheck/models.h"

namespace mmv::lin {

// An operation as the checker sees it, and where it came from.
template <class Model>
struct Part {
  std::string label;  // "" or "key \"9\""
  std::vector<Op<typename Model::Input, typename Model::Output>> ops;
  std::vector<const history::Operation*> source;  // into the history given
};

// cas-register: :read nil -> value, :write v, :cas [from to]; :fail is a
// failed compare (any other :fail did not take effect). Throws
// history::ParseError on an operation the model does not have.
std::vector<Part<CasRegister>> register_parts(const std::vector<history::Operation>& history);
// kv: :get key -> value, :put key value, :append key value; one part per
// key, in order of first appearance; :fail did not take effect.
std::vector<Part<KvKey>> kv_parts(const std::vector<history::Operation>& history);

}  // namespace mmv::lin
