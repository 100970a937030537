// telecase dashboard, "Before and after": the baseline against the period from a rollout
// (GET /dashboard/api/compare, the figures of `telecase metrics compare`), for the tickets
// the logged-in key may see. Dates are UTC days; the table is filled with textContent only.
"use strict";

(function () {
  const form = document.querySelector("#compare-form");
  if (!form) return;
  const status = document.querySelector("#compare-status");
  const body = document.querySelector("#compare tbody");
  const DAY_MS = 86400000;
  // [figure key, label, kind]: "n" a count, "s" seconds
  const ROWS = [["tickets", "Tickets opened", "n"], ["responded", "Answered", "n"],
                ["first_response_avg", "First response, average", "s"],
                ["first_response_median", "First response, median", "s"],
                ["resolved", "Closed", "n"], ["resolution_avg", "Resolution, average", "s"],
                ["resolution_median", "Resolution, median", "s"],
                ["escalated", "Escalated (level 1+)", "n"], ["breached", "SLA breached", "n"]];

  const isoDay = ms => new Date(ms).toISOString().slice(0, 10);

  function span(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? `${hours} h ${minutes % 60} min` : `${(hours / 24).toFixed(1)} d`;
  }

  function change(old, now, kind) {
    if (old === null || now === null || old === undefined || now === undefined) return "—";
    if (kind === "n") return now - old >= 0 ? `+${now - old}` : String(now - old);
    if (!old) return "—";
    const pct = Math.round(((now - old) / old) * 100);
    return `${pct >= 0 ? "+" : ""}${pct}%`;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      tr.appendChild(cell);
    });
    return tr;
  }

  function period(p) {
    return `${p.start.slice(0, 10)} to ${isoDay(Date.parse(p.end) - DAY_MS)}`;
  }

  async function load() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (String(value).trim()) params.set(name, String(value).trim());
    }
    status.textContent = "Loading…";
    try {
      const r = await fetch(`/dashboard/api/compare?${params}`, {
        credentials: "same-origin", cache: "no-store", headers: {Accept: "application/json"}});
      if (r.status === 401) { window.location.assign("/dashboard/login"); return; }
      const data = await r.json();
      if (!r.ok) { status.textContent = `Not compared: ${data.error}`; return; }
      document.querySelector("#compare-before").textContent = `Baseline ${period(data.before)}`;
      document.querySelector("#compare-after").textContent = `Compared ${period(data.after)}`;
      body.replaceChildren(...ROWS.map(([key, label, kind]) => row([
        label, kind === "s" ? span(data.before[key]) : String(data.before[key]),
        kind === "s" ? span(data.after[key]) : String(data.after[key]),
        change(data.before[key], data.after[key], kind)])));
      status.textContent = data.pilot === null ? "All chats" : `Pilot chat ${data.pilot}`;
    } catch (err) {
      status.textContent = `Not compared: ${err.message}`;
    }
  }

  const today = Date.parse(isoDay(Date.now()));
  form.elements.before.value = isoDay(today - 28 * DAY_MS);
  form.elements.after.value = isoDay(today - 14 * DAY_MS);
  form.addEventListener("submit", event => { event.preventDefault(); load(); });
  load();
})();
