// The operations page: draws the hour's lag and rates with ECharts from
// the JSON the page carries (in data-chart), and every 15 seconds fetches
// the page again and swaps in the parts marked data-live, so nothing
// moves but numbers.
(function () {
  "use strict";
  var charts = {};
  // time shows an instant in Beijing time, as the page does.
  function time(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);
    return ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
  }
  // span is the time the samples cover: at least a minute, so that a
  // replica with one sample does not draw days.
  function span(series) {
    var lo = Infinity, hi = -Infinity;
    series.forEach(function (s) {
      s.data.forEach(function (p) {
        lo = Math.min(lo, p[0]);
        hi = Math.max(hi, p[0]);
      });
    });
    if (hi === -Infinity) {
      hi = Date.now();
    }
    return [Math.min(lo, hi - 60000), hi];
  }
  function option(title, series, unit) {
    var x = span(series);
    return {
      animation: false,
      title: { text: title, textStyle: { fontSize: 14 } },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 48, right: 16, top: 36, bottom: 56 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v + " " + unit; } },
      xAxis: { type: "time", min: x[0], max: x[1], minInterval: 60000, splitNumber: 4, axisLabel: { formatter: time, hideOverlap: true } },
      yAxis: { type: "value", minInterval: unit === "条" ? 1 : 0 },
      series: series.map(function (s) {
        return { name: s.name, type: "line", showSymbol: false, data: s.data };
      })
    };
  }
  function draw() {
    var el = document.getElementById("ops-chart");
    if (!el || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(el.getAttribute("data-chart") || "{}");
    [["lag", "积压（条）", data.lag || [], "条"], ["rates", "速率（条/秒）", data.rates || [], "条/秒"]].forEach(function (c) {
      var box = document.getElementById("chart-" + c[0]);
      if (!charts[c[0]]) {
        charts[c[0]] = echarts.init(box);
      }
      charts[c[0]].setOption(option(c[1], c[2], c[3]), { replaceMerge: ["series"] });
    });
  }
  // focusKey is a selector for the element of el that has the keyboard
  // focus (a partition list's summary, a link), so that the same one gets
  // it back once el's content is swapped; null when none has it.
  function focusKey(el) {
    var f = document.activeElement;
    if (!f || f === el || !el.contains(f)) {
      return null;
    }
    var d = f.closest("details[data-key]");
    if (f.tagName === "SUMMARY" && d) {
      return 'details[data-key="' + CSS.escape(d.getAttribute("data-key")) + '"] > summary';
    }
    if (f.getAttribute("href")) {
      return 'a[href="' + CSS.escape(f.getAttribute("href")) + '"]';
    }
    return null;
  }
  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error(r.status);
        }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        // Partitions someone opened stay open.
        document.querySelectorAll("details[data-key][open]").forEach(function (d) {
          var fresh = doc.querySelector('details[data-key="' + d.getAttribute("data-key") + '"]');
          if (fresh) {
            fresh.open = true;
          }
        });
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = doc.querySelector('[data-live="' + el.getAttribute("data-live") + '"]');
          if (fresh && fresh.innerHTML !== el.innerHTML) {
            var again = focusKey(el);
            el.innerHTML = fresh.innerHTML;
            var same = again && el.querySelector(again);
            if (same) {
              same.focus();
            }
          }
        });
        draw();
      })
      .catch(function () {
        var at = document.querySelector('[data-live="at"] time');
        if (at) {
          at.textContent += "（刷新失败，稍后重试）";
        }
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    draw();
    setInterval(refresh, 15000);
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    });
  });
})();
