// The listening dashboard: polls /dashboard/data and redraws the charts in place.
"use strict";

// Resolved from this script's own address so the page works under any route prefix.
const DATA_URL = new URL("../data", document.currentScript.src);
const RETRY_S = 5;
const COLORS = { play: "#12b76a", skip: "#f04438", like: "#2e90fa", dislike: "#7a5af8" };
const PERCENT = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %");

// What the page has done, for people debugging it and for the browser test.
window.hz45Dashboard = { updates: 0, lastError: null };

function $(id) { return document.getElementById(id); }

function showError(id, message) {
  const el = $(id);
  el.hidden = !message;
  el.textContent = message || "";
}

function fillTable(id, rows) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map(([name, value]) => {
    const tr = document.createElement("tr");
    for (const text of [name, value]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function chart(id, type, options) {
  return new Chart($(id), {
    type,
    data: { labels: [], datasets: [] },
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...options },
  });
}

function makeCharts() {
  return {
    events: chart("events-chart", "bar", {
      scales: { x: { stacked: true, ticks: { maxTicksLimit: 20 } }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "events" } } },
    }),
    skip: chart("skip-chart", "line", {
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { min: 0, max: 1, ticks: { callback: (v) => 100 * v + " %" } } },
    }),
    top: chart("top-chart", "bar", {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, title: { display: true, text: "plays" } } },
    }),
    online: chart("online-chart", "bar", {
      scales: { y: { min: 0, max: 1, ticks: { callback: (v) => 100 * v + " %" } } },
    }),
  };
}

function setData(c, labels, datasets) {
  c.data.labels = labels;
  c.data.datasets = datasets;
  c.update("none");
}

function drawEvents(charts, data) {
  showError("events-error", data.errors.events);
  if (!data.events) return;
  const ev = data.events;
  setData(charts.events, ev.minutes, Object.entries(ev.counts).map(([type, counts]) => ({
    label: type, data: counts, backgroundColor: COLORS[type] || "#98a2b3",
  })));
  $("events-note").textContent = `last ${data.window_minutes} min, UTC · ${ev.total} events` +
    (ev.truncated ? " (newest only)" : "");
  $("skip-rate").textContent = PERCENT(data.skip_rate);
  setData(charts.skip, ev.minutes, [{
    label: "skip rate", data: ev.skip_rate, borderColor: COLORS.skip, pointRadius: 0, spanGaps: true,
  }]);
}

function drawTopTracks(charts, data) {
  showError("top-error", data.errors.top_tracks);
  const top = data.top_tracks;
  const hour = data.hour_start.slice(11, 16);
  $("top-note").textContent = top === null ? "no live charts yet (the streaming job writes them)" : `since ${hour} UTC`;
  if (!top) return;
  const name = (t) => (t.title ? `${t.title}${t.artist ? " — " + t.artist : ""}` : `track ${t.track_id}`);
  setData(charts.top, top.map(name), [{ label: "plays", data: top.map((t) => t.plays), backgroundColor: COLORS.play }]);
}

function drawChampion(data) {
  const champ = data.champion;
  showError("champion-error", data.champion_error);
  $("champion-version").textContent = champ ? `${champ.name} v${champ.version}` : "none";
  fillTable("offline-metrics", champ ? Object.entries(champ.metrics).map(([k, v]) => [k, v.toFixed(4)]) : []);
  const online = champ && (data.online || []).find((r) => r.model_name === champ.name && r.model_version === champ.version);
  fillTable("online-metrics", online ? [
    ["lists served", String(online.lists)],
    ["tracks recommended", String(online.tracks)],
    ["played within " + data.attribution_minutes + " min", PERCENT(online.played_share)],
    ["skipped within " + data.attribution_minutes + " min", PERCENT(online.skipped_share)],
  ] : [["lists served", "0"]]);
}

function drawOnline(charts, data) {
  showError("online-error", data.errors.online);
  if (!data.online) return;
  const rows = data.online;
  $("online-note").textContent = `lists served in the last ${data.window_minutes} min` +
    (data.lists_truncated ? " (newest only)" : "");
  setData(charts.online, rows.map((r) => `${r.model_name} v${r.model_version}`), [
    { label: "played", data: rows.map((r) => r.played_share), backgroundColor: COLORS.play },
    { label: "skipped", data: rows.map((r) => r.skipped_share), backgroundColor: COLORS.skip },
  ]);
}

async function refresh(charts) {
  let wait = RETRY_S;
  try {
    const response = await fetch(DATA_URL, { cache: "no-store" });
    if (!response.ok) throw new Error(`${DATA_URL.pathname} answered ${response.status}`);
    const data = await response.json();
    drawEvents(charts, data);
    drawTopTracks(charts, data);
    drawChampion(data);
    drawOnline(charts, data);
    wait = data.refresh_s;
    window.hz45Dashboard.updates += 1;
    window.hz45Dashboard.lastError = null;
    $("status").className = "status";
    $("status").textContent = `updated ${data.generated_at.slice(11, 19)} UTC (read in ${data.read_s.toFixed(1)} s) · polled every ${data.refresh_s} s`;
  } catch (err) {
    window.hz45Dashboard.lastError = String(err);
    $("status").className = "status stale";
    $("status").textContent = `not updated: ${err.message}; retrying`;
  }
  setTimeout(() => refresh(charts), wait * 1000);
}

if (typeof Chart === "undefined") {
  $("status").className = "status stale";
  $("status").textContent = "Chart.js is not bundled: run scripts/build_dashboard.sh";
} else {
  refresh(makeCharts());
}
