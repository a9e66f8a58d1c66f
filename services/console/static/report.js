// The report page's trend chart: drawn with Apache ECharts from the trend
// table, which stays on the page with the same numbers.
window.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("trendchart");
  var table = document.getElementById("trendtable");
  if (!box || !table || !window.echarts) {
    return;
  }
  var labels = [], series = [[], [], [], []];
  table.querySelectorAll("tbody tr").forEach(function (tr) {
    labels.push(tr.querySelector("th").textContent);
    tr.querySelectorAll("td").forEach(function (td, i) {
      if (i < 4) {
        series[i].push(Number(td.textContent));
      }
    });
  });
  if (series[0].every(function (n) { return n === 0; })) {
    box.style.display = "none"; // nothing received: no empty chart, the table says so
    return;
  }
  box.style.height = "320px";
  var names = ["受理量", "办结", "按时办结", "超时"];
  var chart = window.echarts.init(box);
  chart.setOption({
    animation: false,
    tooltip: {trigger: "axis"},
    legend: {data: names, top: 0},
    grid: {left: 40, right: 16, top: 48, bottom: 32},
    xAxis: {type: "category", data: labels},
    yAxis: {type: "value", minInterval: 1},
    color: ["#1f5fa8", "#2e7d32", "#7cb342", "#c62828"],
    series: names.map(function (name, i) {
      return {name: name, type: i === 0 ? "bar" : "line", data: series[i]};
    })
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
