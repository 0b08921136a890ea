#include "lincheck/timeline.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

namespace mmv::lin {
namespace {

// The page's style. Colours: the prefix green, the rest grey, the window
// orange (a thick border; filled orange where not in the prefix).
constexpr std::string_view kStyle = R"css(
:root { --prefix: #d6ecd8; --prefix-edge: #2e7d32; --rest: #eceff1; --rest-edge: #78909c;
        --window: #ffcc80; --window-edge: #e65100; --ink: #1b1f23; --muted: #5f6b76; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; color: var(--ink); background: #fff;
       font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 18px; margin: 0 0 4px; word-break: break-word; }
.summary { margin: 0 0 10px; color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 12px; font-size: 13px; }
.legend .item { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 28px; height: 14px; border-radius: 3px; border: 1px solid var(--rest-edge);
          background: var(--rest); }
.swatch.s-prefix { background: var(--prefix); border-color: var(--prefix-edge); }
.swatch.s-window { background: var(--window); border: 3px solid var(--window-edge); }
.swatch.s-window-prefix { background: var(--prefix); border: 3px solid var(--window-edge); }
.swatch.s-unknown { border-style: dashed; background: linear-gradient(to right, var(--rest) 50%, #fff); }
.swatch.s-line { width: 0; height: 18px; border: 0; border-left: 2px dashed var(--prefix-edge); border-radius: 0;
                 background: none; margin: 0 8px; }
.swatch.s-region { background: rgba(46, 125, 50, 0.10); border: 0; }
.timeline { overflow-x: auto; border: 1px solid #cfd8dc; border-radius: 6px; background: #fafbfc; }
.canvas { position: relative; }
.axis { position: relative; height: 30px; border-bottom: 1px solid #cfd8dc; }
.tick { position: absolute; top: 0; height: 30px; border-left: 1px solid #cfd8dc; padding: 7px 0 0 4px;
        font-size: 11px; color: var(--muted); white-space: nowrap; }
.lane { position: relative; border-bottom: 1px solid #e3e8eb; }
.lane:last-child { border-bottom: 0; }
.lane-label { position: sticky; left: 0; z-index: 3; display: flex; align-items: center; height: 100%;
              padding: 0 10px; font-weight: 600; background: #f3f5f7;
              border-right: 1px solid #cfd8dc; }
.track { position: absolute; top: 0; bottom: 0; }
.op { position: absolute; height: 36px; padding: 2px 6px; overflow: hidden; white-space: nowrap;
      border: 1px solid var(--rest-edge); border-radius: 4px; background: var(--rest); z-index: 2;
      font: 12px/15px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; cursor: default; }
.op span { display: block; overflow: hidden; text-overflow: ellipsis; }
.op .out { color: var(--muted); }
.op.prefix { background: var(--prefix); border-color: var(--prefix-edge); }
.op.window { border: 3px solid var(--window-edge); padding: 0 4px; box-shadow: 0 0 0 2px rgba(230, 81, 0, 0.25);
             font-weight: 600; }
.op.window.unplaced { background: var(--window); }
.op.window .out { color: var(--ink); }
.op.unknown { border-style: dashed; }
.op.unknown.prefix { background: linear-gradient(to right, var(--prefix) 60%, rgba(255, 255, 255, 0)); }
.op.unknown.unplaced { background: linear-gradient(to right, var(--rest) 60%, rgba(255, 255, 255, 0)); }
.op.unknown.window.unplaced { background: linear-gradient(to right, var(--window) 60%, rgba(255, 255, 255, 0)); }
.op:hover { z-index: 6; overflow: visible; min-width: max-content; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25); }
.prefix-region { position: absolute; top: 0; bottom: 0; background: rgba(46, 125, 50, 0.08); z-index: 0;
                 pointer-events: none; }
.prefix-line { position: absolute; top: 0; bottom: 0; border-left: 2px dashed var(--prefix-edge); z-index: 4;
               pointer-events: none; }
.prefix-label { position: absolute; top: 5px; left: 6px; padding: 1px 6px; font-size: 11px; white-space: nowrap;
                color: #fff; background: var(--prefix-edge); border-radius: 3px; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.op.flash { animation: flash 1.2s ease-out 2; }
@keyframes flash { 0% { box-shadow: 0 0 0 8px rgba(230, 81, 0, 0.6); } 100% { box-shadow: 0 0 0 2px rgba(230, 81, 0, 0.25); } }
h2 { font-size: 15px; margin: 16px 0 6px; }
.window-list { display: flex; flex-wrap: wrap; gap: 6px; margin: 0; padding: 0; list-style: none; }
.jump { font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; padding: 3px 8px;
        border-radius: 4px; border: 2px solid var(--window-edge); background: var(--window); color: var(--ink);
        cursor: pointer; max-width: 46em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.in-prefix .jump { background: var(--prefix); }
details { margin-top: 14px; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; border: 1px solid #e3e8eb; border-radius: 6px; padding: 10px; overflow-x: auto;
      font: 12px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
)css";

// Draws the timeline from the JSON blob (#timeline-data) into #timeline.
// Layout: the call and return events in order, each a small step right of
// the one before, and a return at least a bar's minimum width right of its
// call; stretched to the width of the page when it is narrower. Text goes
// in with textContent only.
constexpr std::string_view kScript = R"js(
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  var root = document.getElementById('timeline');
  var LABEL = 118, GAP = 10, MINW = 90, MAXW = 340, ROW = 44, PAD = 4, TAIL = 80, TICK = 130;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function grouped(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function exact(t) { return data.unit === 'ns' ? grouped(t) + ' ns' : data.unit + ' ' + t; }
  // Tick labels: in the unit and with the decimals that tell neighbouring ticks apart.
  function tickFormat(times) {
    if (data.unit !== 'ns') return function (t) { return data.unit + ' ' + t; };
    var max = 1, step = Infinity;
    times.forEach(function (t, i) {
      max = Math.max(max, t);
      if (i > 0 && t > times[i - 1]) step = Math.min(step, t - times[i - 1]);
    });
    var unit = max >= 1e9 ? [1e9, 's'] : max >= 1e6 ? [1e6, 'ms'] : max >= 1e3 ? [1e3, '\u00b5s'] : [1, 'ns'];
    var digits = 0;
    while (digits < 6 && step !== Infinity && step / unit[0] * Math.pow(10, digits) < 1) ++digits;
    return function (t) { return (t / unit[0]).toFixed(digits) + ' ' + unit[1]; };
  }

  // A bar is as wide as its text (within MINW..MAXW), or as its events need.
  var probe = el('div', 'op');
  probe.style.visibility = 'hidden';
  var probeText = el('span', 'cmd', '0123456789');
  probe.appendChild(probeText);
  root.appendChild(probe);
  var CH = probeText.getBoundingClientRect().width / 10 || 7.3;
  root.removeChild(probe);
  var ops = data.ops;
  var want = ops.map(function (o) {
    return Math.min(MAXW, Math.max(MINW, Math.ceil(CH * Math.max(o.cmd.length, o.out.length)) + 24));
  });

  // Layout: the call and return events in order, each a small step right of
  // the one before, a return at least its bar's width right of its call.
  var events = [];
  ops.forEach(function (o, k) {
    events.push({ rank: o.s, op: k, ret: false, t: o.t0 });
    if (o.e >= 0) events.push({ rank: o.e, op: k, ret: true, t: o.t1 });
  });
  events.sort(function (a, b) { return a.rank - b.rank; });
  var xs = [], xe = [], x = -GAP, frontierX = -1;
  events.forEach(function (e) {
    if (e.ret) {
      x = Math.max(x + GAP, xs[e.op] + want[e.op]);
      xe[e.op] = x;
      if (e.rank === data.frontier) frontierX = x - GAP / 2;
    } else {
      x += GAP;
      xs[e.op] = x;
    }
    e.x = x;
  });
  var end = x + TAIL;
  ops.forEach(function (o, k) {
    if (o.e < 0) xe[k] = Math.max(end, xs[k] + want[k]);  // no response: open to the right
    end = Math.max(end, xe[k]);
  });
  end += GAP;
  var avail = Math.max(600, root.clientWidth - LABEL - 2);
  var scale = end < avail ? avail / end : 1;
  function px(v) { return Math.round(v * scale) + 'px'; }

  // Lanes, and rows within a lane should a client's operations overlap.
  var lanes = {};
  data.lanes.forEach(function (c) { lanes[c] = { rows: [], ops: [] }; });
  ops.map(function (o, k) { return k; })
    .sort(function (a, b) { return xs[a] - xs[b]; })
    .forEach(function (k) {
      var lane = lanes[ops[k].c], row = 0;
      while (row < lane.rows.length && lane.rows[row] > xs[k] - 2) ++row;
      lane.rows[row] = xe[k];
      lane.ops.push({ k: k, row: row });
    });

  var canvas = el('div', 'canvas');
  canvas.style.width = (LABEL + Math.round(end * scale)) + 'px';
  var axis = el('div', 'axis');
  axis.style.marginLeft = LABEL + 'px';
  var ticks = [], lastTick = -1e9;
  events.forEach(function (e) {
    if (e.x - lastTick < TICK) return;
    // None under the label of the prefix line.
    if (frontierX >= 0 && e.x * scale > frontierX * scale - 70 && e.x * scale < frontierX * scale + 320) return;
    lastTick = e.x;
    ticks.push(e);
  });
  var format = tickFormat(ticks.map(function (e) { return e.t; }));
  ticks.forEach(function (e) {
    var t = el('div', 'tick', format(e.t));
    t.style.left = px(e.x);
    axis.appendChild(t);
  });
  canvas.appendChild(axis);
  var bars = [], drawn = 0;
  data.lanes.forEach(function (c) {
    var lane = lanes[c];
    var row = el('div', 'lane');
    row.style.height = (Math.max(1, lane.rows.length) * ROW + PAD) + 'px';
    var label = el('div', 'lane-label', data.lane + ' ' + c);
    label.style.width = LABEL + 'px';
    row.appendChild(label);
    var track = el('div', 'track');
    track.style.left = LABEL + 'px';
    track.style.width = px(end);
    lane.ops.forEach(function (p) {
      var o = ops[p.k];
      var cls = 'op ' + (o.p ? 'prefix' : 'unplaced') + (o.w ? ' window' : '') + (o.e < 0 ? ' unknown' : '');
      var bar = el('div', cls);
      bar.style.left = px(xs[p.k]);
      bar.style.width = Math.max(24, Math.round((xe[p.k] - xs[p.k]) * scale) - 2) + 'px';
      bar.style.top = (PAD + p.row * ROW) + 'px';
      bar.appendChild(el('span', 'cmd', o.cmd));
      bar.appendChild(el('span', 'out', o.out));
      var status = o.p ? 'in the longest linearizable prefix' : 'not in the longest linearizable prefix';
      if (o.w) status += '; in the window';
      var lines = [o.cmd + ' \u2192 ' + o.out, data.lane + ' ' + o.c + ', operation #' + o.i,
                   'called at ' + exact(o.t0) + ', ' +
                   (o.e < 0 ? 'no response (it may take effect any time after its call, or never)'
                            : 'returned at ' + exact(o.t1)),
                   status];
      if (o.d) lines.push(o.d);
      bar.title = lines.join('\n');
      bar.setAttribute('data-op', String(o.i));
      track.appendChild(bar);
      bars[p.k] = bar;
      ++drawn;
    });
    row.appendChild(track);
    canvas.appendChild(row);
  });
  if (frontierX >= 0) {
    var region = el('div', 'prefix-region');
    region.style.left = LABEL + 'px';
    region.style.width = px(frontierX);
    canvas.appendChild(region);
    var line = el('div', 'prefix-line');
    line.id = 'prefix-line';
    line.style.left = (LABEL + Math.round(frontierX * scale)) + 'px';
    line.appendChild(el('div', 'prefix-label',
                        '\u25c0 longest linearizable prefix: ' + data.placed + ' of ' + data.total + ' operations'));
    canvas.appendChild(line);
  }
  root.textContent = '';
  root.appendChild(canvas);
  root.setAttribute('data-rendered', String(drawn));

  // The window's operations, each a button that shows it.
  var list = document.getElementById('window-list');
  ops.map(function (o, k) { return k; })
    .filter(function (k) { return ops[k].w; })
    .sort(function (a, b) { return ops[a].c - ops[b].c || xs[a] - xs[b]; })
    .forEach(function (k) {
      var o = ops[k];
      var item = el('li', o.p ? 'in-prefix' : 'not-in-prefix');
      var button = el('button', 'jump', data.lane + ' ' + o.c + ': ' + o.cmd + ' \u2192 ' + o.out);
      button.type = 'button';
      button.title = o.p ? 'the last operation of its ' + data.lane + ' in the prefix'
                         : 'not in the prefix';
      button.addEventListener('click', function () {
        bars[k].scrollIntoView({ block: 'nearest', inline: 'center' });
        bars[k].classList.remove('flash');
        void bars[k].offsetWidth;
        bars[k].classList.add('flash');
      });
      item.appendChild(button);
      list.appendChild(item);
    });
  if (frontierX >= 0 && canvas.scrollWidth > root.clientWidth)
    root.scrollLeft = Math.max(0, LABEL + frontierX * scale - root.clientWidth / 2);
})();
)js";

struct Event {
  std::uint64_t time;
  bool ret;
  std::size_t op;
  bool operator<(const Event& o) const {
    // Calls before returns at equal times (such operations overlap), as the checker orders them.
    if (time != o.time) return time < o.time;
    if (ret != o.ret) return !ret;
    return op < o.op;
  }
};

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    char buf[8];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c == 0xe2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(text[i + 2]) == 0xa8 || static_cast<unsigned char>(text[i + 2]) == 0xa9)) {
          out += static_cast<unsigned char>(text[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";  // line separators
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string timeline_html(const std::vector<TimelineOp>& ops, const std::vector<bool>& placed,
                          const std::vector<std::size_t>& window, const TimelineOptions& options) {
  const std::size_t n = ops.size();
  auto in_prefix = [&](std::size_t i) { return i < placed.size() && placed[i]; };
  const std::set<std::size_t> in_window(window.begin(), window.end());

  // Which operations to draw: all of them, or max_ops in call order around
  // the window (the window always).
  std::vector<std::size_t> by_call(n);
  for (std::size_t i = 0; i < n; ++i) by_call[i] = i;
  std::stable_sort(by_call.begin(), by_call.end(), [&](std::size_t a, std::size_t b) { return ops[a].call < ops[b].call; });
  std::size_t lo = 0, hi = n;  // drawn: by_call[lo, hi)
  if (n > options.max_ops) {
    std::size_t first = n, last = 0;
    for (std::size_t k = 0; k < n; ++k) {
      if (!in_window.count(by_call[k])) continue;
      first = std::min(first, k);
      last = std::max(last, k);
    }
    if (first == n) first = last = 0;
    const std::size_t span = last - first + 1;
    std::size_t spare = options.max_ops > span ? options.max_ops - span : 0;
    lo = first - std::min(first, spare / 2);
    spare -= first - lo;
    hi = std::min(n, last + 1 + spare);
    spare -= hi - (last + 1);
    lo -= std::min(lo, spare);
  }

  // The drawn operations' events in order; ranks are the page's x order.
  std::vector<Event> events;
  std::uint64_t t0 = UINT64_MAX;
  for (std::size_t k = lo; k < hi; ++k) {
    const std::size_t i = by_call[k];
    events.push_back({ops[i].call, false, i});
    if (ops[i].responded) events.push_back({ops[i].ret, true, i});
    t0 = std::min(t0, ops[i].call);
  }
  std::sort(events.begin(), events.end());
  if (options.time_unit != "ns") t0 = 0;  // shown as they are
  std::map<std::size_t, std::pair<long, long>> rank;  // op -> (call rank, return rank or -1)
  for (std::size_t r = 0; r < events.size(); ++r) {
    auto [it, fresh] = rank.try_emplace(events[r].op, -1, -1);
    (events[r].ret ? it->second.second : it->second.first) = static_cast<long>(r);
  }

  // Where the prefix ends: the first return of an operation it could not
  // place (every operation that returned before is in it).
  long frontier = -1;
  std::size_t frontier_op = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (in_prefix(i) || !ops[i].responded) continue;
    if (frontier_op == n || ops[i].ret < ops[frontier_op].ret) frontier_op = i;
  }
  if (frontier_op < n && rank.count(frontier_op)) frontier = rank[frontier_op].second;

  std::set<int> clients, drawn_clients;
  std::size_t prefix_ops = 0, unknown = 0;
  for (std::size_t i = 0; i < n; ++i) {
    clients.insert(ops[i].client);
    prefix_ops += in_prefix(i);
    unknown += !ops[i].responded;
  }

  std::ostringstream json;
  json << "{\"lane\":" << json_string(options.lane) << ",\"unit\":" << json_string(options.time_unit)
       << ",\"total\":" << n << ",\"placed\":" << prefix_ops << ",\"frontier\":" << frontier << ",\"ops\":[";
  bool comma = false;
  for (std::size_t k = lo; k < hi; ++k) {
    const std::size_t i = by_call[k];
    const TimelineOp& o = ops[i];
    drawn_clients.insert(o.client);
    const auto [s, e] = rank[i];
    const int w = in_window.count(i) ? (in_prefix(i) ? 1 : 2) : 0;
    json << (comma ? ",\n" : "\n") << "{\"i\":" << i << ",\"c\":" << o.client << ",\"s\":" << s << ",\"e\":" << e
         << ",\"t0\":" << o.call - t0 << ",\"t1\":" << (o.responded && o.ret >= t0 ? o.ret - t0 : 0)
         << ",\"p\":" << (in_prefix(i) ? 1 : 0) << ",\"w\":" << w << ",\"cmd\":" << json_string(o.text.command)
         << ",\"out\":" << json_string(o.text.outcome) << ",\"d\":" << json_string(o.text.detail) << "}";
    comma = true;
  }
  json << "],\n\"lanes\":[";
  comma = false;
  for (int c : drawn_clients) {
    json << (comma ? "," : "") << c;
    comma = true;
  }
  json << "]}";

  const std::string lane_plural = options.lane + (!options.lane.empty() && options.lane.back() == 's' ? "es" : "s");
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
          "script-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       << "<title>" << html_escape(options.title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
       << "<h1>" << html_escape(options.title) << "</h1>\n"
       << "<p class=\"summary\">" << html_escape(plural(n, "operation", "operations")) << " ("
       << html_escape(std::to_string(unknown)) << " with no response), " << clients.size() << " "
       << html_escape(clients.size() == 1 ? options.lane : lane_plural) << ". The longest linearizable prefix has "
       << prefix_ops << " of them, and no order of all of them fits the model. The window, around the first "
       << "operations the prefix could not place: " << html_escape(plural(in_window.size(), "operation", "operations")) << ".</p>\n"
       << "<div class=\"legend\">\n"
          "<span class=\"item\"><span class=\"swatch s-prefix\"></span>in the longest linearizable prefix</span>\n"
          "<span class=\"item\"><span class=\"swatch\"></span>not in it</span>\n"
          "<span class=\"item\"><span class=\"swatch s-window\"></span>window: an operation the prefix could not "
          "place</span>\n"
          "<span class=\"item\"><span class=\"swatch s-window-prefix\"></span>window: the last one in the "
          "prefix</span>\n"
          "<span class=\"item\"><span class=\"swatch s-unknown\"></span>no response (outcome unknown)</span>\n"
          "<span class=\"item\"><span class=\"swatch s-region\"></span><span class=\"swatch s-line\"></span>the "
          "prefix ends: every operation that returned before the line is in it</span>\n"
          "</div>\n"
       << "<div id=\"timeline\" class=\"timeline\"><noscript><p class=\"note\">The timeline is drawn by the page's "
          "inline script; the text report below has the same window.</p></noscript></div>\n"
       << "<p class=\"note\">x: the order of calls and returns (gaps compressed); hover over an operation for its "
          "full text and times.";
  if (lo > 0 || hi < n)
    html << " Drawn: " << hi - lo << " of " << n << " operations around the window (" << lo
         << " called before them and " << n - hi << " after are left out).";
  if (options.time_unit == "ns") html << " Times are from the first call drawn.";
  html << "</p>\n"
       << "<h2>The window</h2>\n<ol id=\"window-list\" class=\"window-list\"></ol>\n";
  if (!options.report.empty())
    html << "<details open>\n<summary>Text report</summary>\n<pre>" << html_escape(options.report)
         << "</pre>\n</details>\n";
  html << "<script type=\"application/json\" id=\"timeline-data\">" << json.str() << "</script>\n<script>"
       << kScript << "</script>\n</body>\n</html>\n";
  return html.str();
}

bool write_text_file(const std::string& path, const std::string& text, std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      if (error) *error = "cannot write " + tmp;
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    if (error) *error = "cannot rename " + tmp + " to " + path + ": " + ec.message();
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

}  // namespace mmv::lin
