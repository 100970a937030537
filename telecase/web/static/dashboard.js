// telecase dashboard: polls the JSON API (session cookie, same origin) and draws the page.
// The board is fetched every few seconds (<body data-poll-seconds>) and, between fetches,
// each ticket's time to breach is counted down every second from its deadline, with the
// browser's clock corrected to the server's (the answer's "now"). A deadline that passes here
// shows the ticket as overdue at the top until the projection says it breached.
// Everything the server sends is put in with textContent, never as markup.
"use strict";

(function () {
  const POLL_MS = Math.max(1, Number(document.body.dataset.pollSeconds) || 5) * 1000;
  const WORKLOADS_MS = 10000, TRENDS_MS = 60000, DAYS = 14;
  const charts = window.TelecaseCharts;
  let board = null, skew = 0;

  const $ = sel => document.querySelector(sel);

  async function getJSON(url) {
    const r = await fetch(url, {credentials: "same-origin", cache: "no-store",
                                headers: {Accept: "application/json"}});
    if (r.status === 401) {  // the session ended (expired, key revoked, server restarted)
      window.location.assign("/dashboard/login");
      throw new Error("not logged in");
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.json();
  }

  function fmtDuration(seconds) {
    const t = Math.max(0, Math.round(seconds));
    const d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600);
    const m = Math.floor((t % 3600) / 60), s = t % 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
    return `${s}s`;
  }

  const count = n => String(Math.round(n || 0));
  const time = at => new Date(at).toLocaleTimeString();

  function cell(tr, text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  // Where a ticket stands at instant `at` (ms): its rank on the board and what to show.
  function standing(t, at) {
    const due = t.due_at ? Date.parse(t.due_at) : null;
    const next = due !== null && due > at ? ` · next target in ${fmtDuration((due - at) / 1000)}` : "";
    if (t.breached) {
      const since = t.breached_at ? Date.parse(t.breached_at) : null;
      return {rank: 0, key: since || Date.parse(t.opened_at), cls: "breached", sla: "breached",
              text: (since ? `breached ${fmtDuration((at - since) / 1000)} ago` : "breached") + next};
    }
    if (t.outreach) {  // the team opened it; nothing is owed until the customer writes
      return {rank: 2, key: Date.parse(t.opened_at), cls: "outreach", sla: "outreach",
              text: "waiting for the customer"};
    }
    if (due !== null && due <= at) {
      return {rank: 0, key: due, cls: "overdue", sla: t.sla_state || "running",
              text: `overdue by ${fmtDuration((at - due) / 1000)}`};
    }
    if (due !== null) {
      return {rank: 1, key: due, cls: t.sla_state === "warned" ? "warned" : "",
              sla: t.sla_state || "running", text: `${fmtDuration((due - at) / 1000)}`};
    }
    const sla = t.tier ? (t.sla_state || "running") : "no SLA";
    return {rank: 2, key: Date.parse(t.opened_at), cls: "", sla,
            text: t.resolution_paused ? "paused (waiting on the customer)" : "—"};
  }

  function renderBoard() {
    if (!board) return;
    const at = Date.now() + skew;
    const rows = board.tickets.map(t => [t, standing(t, at)]);
    rows.sort((a, b) => a[1].rank - b[1].rank || a[1].key - b[1].key
              || (a[0].ticket_id < b[0].ticket_id ? -1 : 1));
    const trs = rows.map(([t, s]) => {
      const tr = document.createElement("tr");
      tr.dataset.ticketId = t.ticket_id;
      if (s.cls) tr.className = s.cls;
      cell(tr, t.case_number ? `#${t.case_number}` : t.ticket_id, "ticket", t.ticket_id);
      cell(tr, t.subject, "subject");
      cell(tr, t.tier, "tier");
      cell(tr, t.queue, "queue");
      cell(tr, t.agent_id, "agent");
      cell(tr, s.sla, "sla");
      cell(tr, s.text, "countdown",
           t.due_at ? `due ${new Date(t.due_at).toLocaleString()}` : undefined);
      cell(tr, t.escalation_level ? `level ${t.escalation_level}` : "", "escalation");
      return tr;
    });
    if (!trs.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "No open tickets you can see.", "muted");
      td.colSpan = 8;
      trs.push(tr);
    }
    $("#board tbody").replaceChildren(...trs);
  }

  function renderEscalated() {
    const items = board.tickets.filter(t => t.escalation_level > 0)
      .sort((a, b) => b.escalation_level - a.escalation_level || (a.ticket_id < b.ticket_id ? -1 : 1))
      .map(t => {
        const li = document.createElement("li");
        li.dataset.ticketId = t.ticket_id;
        li.textContent = `${t.case_number ? "#" + t.case_number : t.ticket_id} ${t.subject}: level ${
          t.escalation_level}${t.agent_id ? ", agent " + t.agent_id : ""}${t.queue ? ", queue " + t.queue : ""}`;
        return li;
      });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "None.";
      items.push(li);
    }
    $("#escalated").replaceChildren(...items);
  }

  async function pollBoard() {
    try {
      if (!document.hidden || !board) {
        const data = await getJSON("/dashboard/api/board");
        skew = Date.parse(data.now) - Date.now();
        board = data;
        const breached = data.tickets.filter(t => t.breached).length;
        const shown = data.total > data.tickets.length ? ` (showing the ${data.tickets.length} most urgent)` : "";
        $("#board-status").textContent =
          `${data.total} open, ${breached} breached${shown}. Updated ${time(Date.parse(data.now))}.`;
        renderBoard();
        renderEscalated();
      }
    } catch (err) {
      $("#board-status").textContent = `Cannot reach telecase (${err.message}); retrying.`;
    } finally {
      setTimeout(pollBoard, POLL_MS);
    }
  }

  async function pollTrends() {
    try {
      const data = await getJSON(`/dashboard/api/trends?days=${DAYS}`);
      const labels = data.days.map(d => d.day.slice(5));
      const series = (name, field) => ({name, values: data.days.map(d => d[field])});
      charts.lines($("#chart-times"), {
        title: "Average time to first response and to resolution",
        labels, format: fmtDuration,
        series: [series("First response", "first_response_avg_seconds"),
                 series("Resolution", "resolution_avg_seconds")]});
      charts.bars($("#chart-volume"), {
        title: "Tickets, first responses and resolutions per day", labels, format: count,
        series: [series("Tickets", "volume"), series("First responses", "first_responses"),
                 series("Resolutions", "resolutions")]});
      charts.bars($("#chart-escalations"), {
        title: "SLA breaches and escalations per day", labels, format: count,
        series: [series("Breaches", "breaches"), series("Escalations", "escalations")]});
    } catch (err) { /* shown by the board's status; tried again */ }
    setTimeout(pollTrends, TRENDS_MS);
  }

  async function pollWorkloads() {
    try {
      const data = await getJSON("/dashboard/api/workloads");
      charts.capacity($("#chart-workloads"), {
        title: "Open tickets against capacity, and availability",
        rows: data.agents.map(a => ({label: a.name || a.agent_id, value: a.open_tickets,
                                     capacity: a.capacity, note: a.availability || "unknown",
                                     agent: a})),
        head: ["Agent", "Open", "Capacity", "Availability", "Queues", "Assigned (all time)",
               "Closed (all time)"],
        cells: r => [`${r.label} (${r.agent.agent_id})`, count(r.value),
                     r.capacity === null ? "—" : count(r.capacity), r.note,
                     r.agent.queues.join(", ") || "—", count(r.agent.assigned_total),
                     count(r.agent.closed_total)]});
    } catch (err) { /* tried again */ }
    setTimeout(pollWorkloads, WORKLOADS_MS);
  }

  // The "open ticket" form (team leads and admins): outreach or manual, posted as a form.
  function setUpTicketForm() {
    const form = $("#open-ticket"), status = $("#open-ticket-status");
    $("#open-ticket-section").hidden = false;
    const showMode = () => {
      const manual = form.elements.mode.value === "manual";
      for (const el of form.querySelectorAll("[data-mode]")) {
        el.hidden = (el.dataset.mode === "manual") !== manual;
      }
    };
    form.addEventListener("change", showMode);
    showMode();
    form.addEventListener("submit", async event => {
      event.preventDefault();
      status.textContent = "Opening…";
      try {
        const r = await fetch("/dashboard/api/tickets", {
          method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
          headers: {Accept: "application/json"}});
        const answer = await r.json();
        status.textContent = r.ok ? answer.result : `Not opened: ${answer.error}`;
        if (r.ok) form.reset();
        showMode();
      } catch (err) {
        status.textContent = `Not opened: ${err.message}`;
      }
    });
  }

  async function start() {
    try {
      const me = await getJSON("/dashboard/api/me");
      $("#who").textContent = `Logged in as ${me.key} (${me.role.replace("_", " ")}${
        me.agent_id ? ", agent " + me.agent_id : ""})`;
      if (me.role === "team_lead" || me.role === "admin") setUpTicketForm();
    } catch (err) { /* the board's poll reports it */ }
    pollBoard();
    pollTrends();
    pollWorkloads();
    setInterval(renderBoard, 1000);
  }

  start();
})();
