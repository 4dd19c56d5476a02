/* eventstudy report: draw the plotly figures embedded as JSON, and sort tables on click. */
(function () {
  "use strict";

  function drawFigures() {
    var specs = document.querySelectorAll("script.fig-data");
    specs.forEach(function (el) {
      var target = document.getElementById(el.getAttribute("data-target"));
      if (!target) { return; }
      if (typeof Plotly === "undefined") {
        target.textContent = "Chart unavailable: assets/plotly.min.js did not load.";
        target.className += " missing";
        return;
      }
      var spec = JSON.parse(el.textContent);
      Plotly.newPlot(target, spec.data, spec.layout, spec.config);
    });
  }

  function sortValue(cell) {
    if (!cell) { return null; }
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    return v === "" ? null : v;
  }

  function makeSortable(table) {
    var heads = table.querySelectorAll("thead th[data-col]");
    heads.forEach(function (th) {
      function sort() {
        var col = parseInt(th.getAttribute("data-col"), 10);
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = th.classList.contains("num");
        rows.forEach(function (r, i) { r._i = i; });
        rows.sort(function (a, b) {
          var x = sortValue(a.cells[col]), y = sortValue(b.cells[col]);
          if (x === null || y === null) {   /* missing values last, either way */
            return (x === null) - (y === null) || a._i - b._i;
          }
          var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          return (asc ? c : -c) || a._i - b._i;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sort(); }
      });
    });
  }

  function init() {
    document.querySelectorAll("table.sortable").forEach(makeSortable);
    drawFigures();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
