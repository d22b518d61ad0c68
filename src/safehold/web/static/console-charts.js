/* The admin console's charts: each <script type="application/json" class="chart-data">
   block names its <canvas> and holds {title, type, labels, values}; Chart.js (vendored,
   static/vendor/chart.js) draws it. Progressive enhancement: the table beside every chart
   holds the same numbers, so the page says everything without this script. */
(function () {
  "use strict";

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw(block) {
    var canvas = document.getElementById(block.getAttribute("data-canvas"));
    if (!canvas || typeof window.Chart !== "function") {
      return;
    }
    var data;
    try {
      data = JSON.parse(block.textContent);
    } catch (e) {
      return;
    }
    var accent = colour("--accent", "#0b57d0");
    var fg = colour("--fg", "#1b1b1f");
    var line = colour("--line", "#d5d6db");
    canvas.parentElement.classList.add("drawn");
    new window.Chart(canvas, {
      type: data.type === "line" ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: data.title,
          data: data.values,
          backgroundColor: accent,
          borderColor: accent,
          pointRadius: 2,
          tension: 0.2
        }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { ticks: { color: fg }, grid: { color: line } },
          y: { beginAtZero: true, ticks: { color: fg, precision: 0 }, grid: { color: line } }
        }
      }
    });
  }

  function drawAll() {
    var blocks = document.querySelectorAll("script.chart-data");
    for (var i = 0; i < blocks.length; i += 1) {
      draw(blocks[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
}());
