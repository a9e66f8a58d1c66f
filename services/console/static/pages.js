// The agents' pages' one keyboard shortcut: "/" focuses the search box,
// or opens the search page where there is none.
document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.isContentEditable) {
    return;
  }
  e.preventDefault();
  var q = document.getElementById("q");
  if (q) {
    q.focus();
    q.select();
  } else {
    location.href = "/console/search";
  }
});
