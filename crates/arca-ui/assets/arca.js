// Filters a table's rows by the text typed in an input with data-filter="<table id>".
document.addEventListener("input", function (e) {
  var id = e.target.getAttribute && e.target.getAttribute("data-filter");
  if (!id) return;
  var q = e.target.value.toLowerCase();
  document.querySelectorAll("#" + id + " tbody tr").forEach(function (tr) {
    tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
  });
});
