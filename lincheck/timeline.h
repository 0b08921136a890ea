// An HTML timeline of a history that failed a linearizability check
// (lincheck/lincheck.h), written next to the text report. Generic, like the
// checker: it takes the history's timing, the checker's result and a
// function that prints an operation, and knows nothing of what the
// operations are.
//
// The page: one lane per client (thread, process), each operation a bar
// from its call to its return, labelled with its command and outcome (the
// full text in its tooltip); the operations of the longest linearizable
// prefix (Result::deepest: the longest partial linearization the search
// found) in one colour, the others in another; the minimal
// non-linearizable window (lin::window: per client, its last operation in
// the prefix, the first one the prefix could not place, and the next)
// highlighted; a line where the prefix ends (the first return of an
// operation it could not place: every operation that returned before it is
// in the prefix). The x axis is the order of the call and return events,
// gaps compressed (a bar is wide enough to read): real time only orders
// them, and the tooltips give the times.
//
// Self-contained: inline CSS and JavaScript, no network, no fonts. The data
// is one JSON blob (every string escaped for a <script> element) that the
// script draws with textContent, never as markup; the rest of the page's
// text is HTML-escaped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lincheck/lincheck.h"

namespace mmv::lin {

// What the page says of one operation.
struct OpText {
  std::string command;  // e.g. ":read nil", "zap vma 0x40000000 at 0x40000000 size 0x1000"
  std::string outcome;  // e.g. ":ok 4", "zapped"; for one with no response, what is known (":info")
  std::string detail;   // more for the tooltip (e.g. "lines 7-8"); may be empty
};

struct TimelineOptions {
  std::string title;                // the heading, e.g. "history.log: NOT linearizable"
  std::string lane = "thread";      // a lane is "<lane> <client>"
  std::string time_unit = "ns";     // "ns": nanoseconds, shown from the first call drawn;
                                    // else shown as they are, "<unit> <time>" (e.g. "line 7")
  std::string report;               // the text report, shown under the timeline (may be empty)
  std::size_t max_ops = 400;        // operations drawn at most: the window and those around it
};

// One operation as the page needs it.
struct TimelineOp {
  int client = 0;
  std::uint64_t call = 0;
  std::uint64_t ret = 0;  // ignored when !responded
  bool responded = true;
  OpText text;
};

// The page for `ops`: placed[i] says whether op i is in the longest
// linearizable prefix (Result::deepest), `window` lists the window's
// operations (lin::window's, flattened).
std::string timeline_html(const std::vector<TimelineOp>& ops, const std::vector<bool>& placed,
                          const std::vector<std::size_t>& window, const TimelineOptions& options);

// The page for a lin::check history and its kNotLinearizable result:
// `placed` is Result::deepest, print(op, i) the text of history[i].
template <class In, class Out>
std::string timeline_html(const std::vector<Op<In, Out>>& history, const std::vector<bool>& placed,
                          const std::function<OpText(const Op<In, Out>&, std::size_t)>& print,
                          const TimelineOptions& options) {
  std::vector<TimelineOp> ops;
  ops.reserve(history.size());
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& o = history[i];
    ops.push_back({o.client, o.call, o.ret, o.responded, print(o, i)});
  }
  std::vector<std::size_t> in_window;
  for (const auto& [client, indices] : window(history, placed))
    in_window.insert(in_window.end(), indices.begin(), indices.end());
  return timeline_html(ops, placed, in_window, options);
}

// Text made safe for HTML content and attribute values (& < > " ').
std::string html_escape(std::string_view text);

// A JSON string literal of `text`, safe inside a <script> element too: <, >
// and & are \u escapes, so no "</script>" or "<!--" can end it early.
std::string json_string(std::string_view text);

// Writes `text` to `path` (through a temporary file renamed over it, so a
// reader never sees half a page); false with *error set if it cannot.
bool write_text_file(const std::string& path, const std::string& text, std::string* error);

}  // namespace mmv::lin
