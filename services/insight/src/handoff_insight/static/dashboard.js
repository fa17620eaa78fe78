// The insight dashboard: asks for a read key once (kept in sessionStorage, sent as a Bearer
// header, never in a URL), then fetches the funnel API and draws it with Chart.js.
"use strict";
(function () {
  const T = JSON.parse(document.body.dataset.labels);
  let reasonLang = document.body.dataset.lang;
  const KEY = "handoff.insight.key";
  const charts = {};
  let lastOverall = null;
  let lastAlerts = null;
  let lastFeedback = null;
  const said = (x) => (reasonLang === "ja" ? x.label_ja : x.label_en);

  const $ = (id) => document.getElementById(id);
  const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
  const secs = (s) => (s === null || s === undefined ? "–" : s < 120 ? Math.round(s) + "s" : s < 7200 ? Math.round(s / 60) + "m" : (s / 3600).toFixed(1) + "h");
  const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
  const row = (cells) => { const tr = document.createElement("tr"); cells.forEach((c) => tr.appendChild(c)); return tr; };

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
    if (res.status === 401 || res.status === 403) { throw new Error("unauthorized"); }
    if (!res.ok) { throw new Error(path + ": " + res.status); }
    return res.json();
  }

  function query(extra) {
    const form = new FormData($("filters"));
    const q = new URLSearchParams();
    for (const [k, v] of form.entries()) { if (v) q.set(k, v); }
    for (const [k, v] of Object.entries(extra || {})) { q.set(k, v); }
    return q.toString();
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart($(id), config);
  }

  function showReasons(k) {
    const body = $("reasons").querySelector("tbody");
    body.replaceChildren(...k.reasons.map((r) => row([
      cell(said(r)), cell(r.count, "num"), cell(pct(r.share), "num"),
    ])));
    draw("chart-reasons", {
      type: "bar",
      data: { labels: k.reasons.map(said),
              datasets: [{ label: T.count, data: k.reasons.map((r) => r.count), backgroundColor: "#c0453a" }] },
      options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } } },
    });
  }

  function showOverall(k) {
    lastOverall = k;
    for (const n of ["mqls", "accepted", "sql", "rejected"]) $("n-" + n).textContent = k[n];
    for (const r of ["acceptance_rate", "mql_to_sql", "sal_to_sql", "recycle_share", "disqualify_share"]) $("r-" + r).textContent = pct(k[r]);
    showReasons(k);
    $("tta").textContent = T.p50 + " " + secs(k.time_to_accept_p50_seconds) + " · " + T.p90 + " " + secs(k.time_to_accept_p90_seconds);
    const buckets = Object.keys(k.time_to_accept_histogram);
    draw("chart-accept", {
      type: "bar",
      data: { labels: buckets.map((b) => (b === "more" ? ">" : "≤ " + secs(Number(b)))),
              datasets: [{ label: T.accepted, data: buckets.map((b) => k.time_to_accept_histogram[b]), backgroundColor: "#2f9e74" }] },
      options: { animation: false, plugins: { legend: { display: false } } },
    });
    $("sla").querySelector("tbody").replaceChildren(...k.sla.filter((s) => s.met + s.breached > 0).map((s) => row([
      cell(s.stage), cell(s.met, "num"), cell(s.breached, "num"), cell(pct(s.compliance), "num"),
    ])));
  }

  function showWeekly(report) {
    const weeks = report.groups;
    draw("chart-weekly", {
      type: "line",
      data: { labels: weeks.map((g) => g.group), datasets: [
        { label: T.acceptance_rate, data: weeks.map((g) => g.kpis.acceptance_rate), borderColor: "#2f9e74" },
        { label: T.mql_to_sql, data: weeks.map((g) => g.kpis.mql_to_sql), borderColor: "#b7791f" },
        { label: T.sla, data: weeks.map((g) => (g.kpis.sla.find((s) => s.stage === "accept") || {}).compliance), borderColor: "#3b6fd8" },
      ] },
      options: { animation: false, scales: { y: { min: 0, max: 1, ticks: { callback: (v) => v * 100 + "%" } } } },
    });
  }

  function showAlerts(data) {
    lastAlerts = data;
    const box = $("alerts");
    if (!data.alerts.length) {
      const p = document.createElement("p"); p.className = "ok"; p.textContent = T.no_alerts; box.replaceChildren(p); return;
    }
    box.replaceChildren(...data.alerts.map((a) => {
      // The sentence in the chosen language; the raw ids stay on hover and in small print.
      const raw = a.band + " · " + a.group_by + " = " + a.group + " · " + a.metric + " " + pct(a.value);
      const div = document.createElement("div"); div.className = "alert"; div.title = raw;
      const text = document.createElement("span"); text.className = "said";
      text.textContent = reasonLang === "ja" ? a.message_ja : a.message_en;
      const ids = document.createElement("small"); ids.className = "muted ids"; ids.textContent = a.band;
      div.append(text, " ", ids);
      return div;
    }));
  }

  function applied(fb) {
    const parts = [fb.window.name === "custom" ? fb.window.first_day + " – " + fb.window.last_day : fb.window.name];
    for (const [k, v] of Object.entries(fb.filters)) parts.push((T[k] || k) + " = " + v);
    return T.applies + " " + parts.join(", ");
  }

  function showFeedback(fb) {
    lastFeedback = fb;
    $("whatif").querySelector("tbody").replaceChildren(...fb.what_if.map((r) => row([
      cell("≥ " + r.threshold), cell(r.mqls, "num"), cell(pct(r.acceptance_rate), "num"), cell(pct(r.sql_rate), "num"),
      cell(r.too_few_to_trust ? T.too_few : "", "few"),
    ])));
    $("whatif-note").textContent = fb.note;
    for (const id of ["whatif-filters", "rules-filters"]) $(id).textContent = applied(fb);
    $("rules").querySelector("tbody").replaceChildren(...fb.by_rule.slice(0, 15).map((o) => {
      const why = cell(o.reasons.map((r) => said(r) + " " + r.count).join(", "));
      why.title = o.reasons.map((r) => r.code + " " + r.count).join(", ");
      return row([cell(o.name), cell(o.mqls, "num"), cell(o.accepted, "num"), cell(o.rejected, "num"), cell(o.sql, "num"), why]);
    }));
  }

  async function fillLists() {
    const window = new FormData($("filters")).get("window");
    for (const f of ["source", "campaign", "pool", "rep"]) {
      const r = await api("/v1/funnel?" + new URLSearchParams({ window, by: f }));
      $("list-" + f).replaceChildren(...r.groups.map((g) => { const o = document.createElement("option"); o.value = g.group; return o; }));
    }
  }

  async function load() {
    $("status").textContent = T.loading;
    try {
      const [overall, weekly, alerts, feedback] = await Promise.all([
        api("/v1/funnel?" + query({ by: "overall" })),
        api("/v1/funnel?" + query({ by: "week", window: "90d" })),
        api("/v1/funnel/alerts"),
        api("/v1/funnel/feedback?" + query()),  // the same window and filters as the funnel
      ]);
      showOverall(overall.overall);
      showWeekly(weekly);
      showAlerts(alerts);
      showFeedback(feedback);
      $("status").textContent = new Date().toLocaleTimeString();
      document.body.dataset.loaded = "yes";
    } catch (err) {
      if (err.message === "unauthorized") { sessionStorage.removeItem(KEY); askKey(true); return; }
      $("status").textContent = String(err);
    }
  }

  function askKey(refused) {
    $("board").hidden = true; $("forget").hidden = true;
    $("keyform").hidden = false; $("key-error").hidden = !refused;
  }

  function open() {
    $("keyform").hidden = true; $("board").hidden = false; $("forget").hidden = false;
    load(); fillLists().catch(() => {});
  }

  $("key").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem(KEY, $("apikey").value.trim()); $("apikey").value = ""; open(); });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); askKey(false); });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("reason-lang").addEventListener("click", () => {
    reasonLang = reasonLang === "ja" ? "en" : "ja";
    if (lastOverall) showReasons(lastOverall);
    if (lastFeedback) showFeedback(lastFeedback);
    if (lastAlerts) showAlerts(lastAlerts);
  });
  setInterval(() => { if (!$("board").hidden) load(); }, 10000);
  if (sessionStorage.getItem(KEY)) open(); else askKey(false);
})();
