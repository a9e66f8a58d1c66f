(function () {
  var counts = document.querySelectorAll("p.count[data-for]");
  Array.prototype.forEach.call(counts, function (p) {
    var field = document.getElementById("f-" + p.getAttribute("data-for"));
    var max = Number(p.getAttribute("data-max"));
    if (!field || !max) return;
    function update() {
      var n = Array.from(field.value.trim()).length;
      p.textContent = "已输入 " + n + " / " + max + " 字" + (n > max ? "，超出 " + (n - max) + " 字" : "");
      p.className = n > max ? "count over" : "count";
    }
    field.addEventListener("input", update);
    update();
  });
})();
