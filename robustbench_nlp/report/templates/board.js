// Sort a table by a clicked header: numbers by their leading number ("83.4 ± 0.3 [..] ▼" is
// 83.4), other text alphabetically; empty and "—" cells always last; a second click reverses.
(function () {
  "use strict";
  var NUMBER = /^[-+]?\d+(?:\.\d+)?/;

  function key(cell) {
    var text = cell ? cell.textContent.trim() : "";
    if (text === "" || text === "\u2014") {
      return null;
    }
    var match = NUMBER.exec(text);
    return { text: text, number: match ? parseFloat(match[0]) : NaN };
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row) { return key(row.cells[index]); });
    var numeric = keys.every(function (k) { return k === null || !isNaN(k.number); });
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var order = rows.map(function (row, i) { return i; });
    order.sort(function (a, b) {
      var first = keys[a];
      var second = keys[b];
      if (first === null || second === null) {
        if (first === second) {
          return a - b;
        }
        return first === null ? 1 : -1;
      }
      var difference = numeric
        ? first.number - second.number
        : first.text.localeCompare(second.text);
      if (difference === 0) {
        return a - b;
      }
      return ascending ? difference : -difference;
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var target = header.querySelector("button") || header;
      target.addEventListener("click", function () { sortBy(table, index, header); });
    });
  });
})();
