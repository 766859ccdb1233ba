"""The page's inline assets: the Content-Security-Policy (nothing may load from anywhere),
the stylesheet, and the script (sortable tables, and the self-check that marks the
rendered charts for the browser test).
"""

from __future__ import annotations

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


_CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#dde2e8;--bg:#ffffff;--panel:#f7f8fa}
*{box-sizing:border-box}
html{background:#eef1f5}
body{margin:0 auto;max-width:1180px;padding:24px 28px 40px;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:26px;margin:2px 0 6px}
h2{font-size:18px;margin:34px 0 4px;padding-bottom:4px;border-bottom:2px solid var(--ink)}
h3{font-size:15px;margin:16px 0 6px}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:11px;color:var(--muted)}
.desc{color:var(--muted);margin:0 0 12px;max-width:900px}
.status{display:inline-block;color:#fff;font-weight:700;padding:3px 10px;border-radius:3px;
letter-spacing:.05em;font-size:12px}
.facts{display:flex;flex-wrap:wrap;gap:4px 26px;margin:12px 0 4px}
.facts div{min-width:90px}
.facts dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.facts.small dd{font-weight:500}
.message{margin:6px 0;color:var(--muted)}
.warn{background:#fff4d6;border-left:4px solid #ddaa33;padding:6px 10px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin:20px 0 4px}
.kpi{border:1px solid var(--line);border-top:3px solid var(--ink);padding:8px 10px;
background:var(--panel)}
.kpi .k{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.kpi .v{font-size:22px;font-weight:700;font-variant-numeric:tabular-nums}
.kpi .u{font-size:12px;color:var(--muted)}
.lead{color:var(--muted);margin:4px 0 10px}
svg.chart{display:block;width:100%;height:auto;margin:8px 0}
svg.chart text{fill:var(--ink);font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,
sans-serif}
svg.chart .hdr{font-weight:700;font-size:12px}
svg.chart .sub{fill:var(--muted);font-size:10px}
svg.chart .site{font-weight:600;font-size:12px}
svg.chart .val{font-size:10.5px;font-variant-numeric:tabular-nums}
svg.chart .pct{font-size:10.5px;font-weight:700}
svg.chart .axis{fill:var(--muted);font-size:10px}
svg.chart .lbl-site{font-weight:600}
svg.chart .lbl-region{font-style:italic;fill:#333}
.tablewrap{overflow-x:auto;max-height:560px;overflow-y:auto;border:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#e9edf2;position:sticky;top:0;font-weight:600}
table.sortable th{cursor:pointer}
th[aria-sort=ascending]::after{content:" ▲";font-size:9px}
th[aria-sort=descending]::after{content:" ▼";font-size:9px}
td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#fafbfc}
.empty{color:var(--muted);font-style:italic}
.note{color:var(--muted);font-size:12.5px}
.infeasible{border-left:4px solid #b3261e;background:#fdf0ef;padding:4px 14px;margin:10px 0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:20px}
details{margin:8px 0;color:var(--muted)}
footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);
font-size:12px}
@media print{html{background:#fff}body{max-width:none;padding:0}.tablewrap{max-height:none}
h2{break-after:avoid}svg.chart{break-inside:avoid}}
"""

_JS = """
(function () {
  "use strict";
  function sortValue(cell) {
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-v");
    if (raw !== null && raw !== "") {
      var n = parseFloat(raw);
      if (!isNaN(n)) { return n; }
    }
    return (cell.textContent || "").trim().toLowerCase();
  }
  function compare(a, b) {
    var an = typeof a === "number", bn = typeof b === "number";
    if (an && bn) { return a - b; }
    if (an) { return -1; }
    if (bn) { return 1; }
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var body = table.tBodies[0];
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(sortValue(r1.cells[col]), sortValue(r2.cells[col]));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sort(); }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  // Self-check read by the browser test: a chart counts as rendered when it has a laid-out
  // box and drawn shapes.
  var charts = document.querySelectorAll("svg[data-chart]");
  var rendered = [];
  Array.prototype.forEach.call(charts, function (svg) {
    var box = svg.getBoundingClientRect();
    var shapes = svg.querySelectorAll("rect, circle, path, line, polygon").length;
    if (box.width > 0 && box.height > 0 && shapes > 0) {
      rendered.push(svg.getAttribute("data-chart"));
    }
  });
  var root = document.documentElement;
  root.setAttribute("data-charts-total", String(charts.length));
  root.setAttribute("data-charts-rendered", rendered.join(" "));
})();
"""
