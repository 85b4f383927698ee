// Sortable top tables: a click on a heading sorts by that column (numbers by their
// data-value, text by its content); a second click reverses the order.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headings = table.querySelectorAll("th[data-type]");
  headings.forEach(function (heading, column) {
    heading.addEventListener("click", function () {
      var numeric = heading.dataset.type === "number";
      var ascending = heading.classList.contains("desc") || (!numeric && !heading.classList.contains("asc"));
      headings.forEach(function (other) { other.classList.remove("asc", "desc"); });
      heading.classList.add(ascending ? "asc" : "desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[column];
        return numeric ? parseFloat(cell.dataset.value) : cell.textContent.toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
