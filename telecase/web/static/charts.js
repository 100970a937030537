// telecase dashboard charts: small SVG charts drawn with DOM calls (no library, no CDN).
// Each chart fills a <figure>: a caption, a legend, the SVG (role="img", described in words)
// and, behind a <details>, the table of the numbers it draws, for screen readers and copying.
// Text goes in with textContent only, never as markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  let serial = 0;

  function svgEl(name, attrs, parent) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function el(name, text, parent, cls) {
    const node = document.createElement(name);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    if (parent) parent.appendChild(node);
    return node;
  }

  // The top of an axis of four steps: each step a round number (1, 2, 5 x 10^n) and, for
  // counts, a whole one, so that every gridline reads well.
  function niceMax(v, whole) {
    const raw = v > 0 ? v / 4 : 1;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = 10 * p;
    for (const m of [1, 2, 5]) if (m * p >= raw) { step = m * p; break; }
    return 4 * (whole ? Math.max(1, Math.round(step)) : step);
  }

  // Start a chart in figure: returns {svg, id}; keeps the data table open if it was.
  function frame(figure, title, desc, series, width, height) {
    const wasOpen = !!figure.querySelector("details[open]");
    figure.replaceChildren();
    const id = "chart-" + (++serial);
    const caption = el("figcaption", title, figure);
    caption.id = id + "-title";
    if (series && series.length > 1) {
      const legend = el("div", null, figure, "legend");
      legend.setAttribute("aria-hidden", "true");
      series.forEach((s, i) => {
        const item = el("span", null, legend);
        el("span", null, item, "key s" + i);
        item.appendChild(document.createTextNode(s.name));
      });
    }
    const svg = svgEl("svg", {viewBox: `0 0 ${width} ${height}`, role: "img",
                              "aria-labelledby": `${id}-title ${id}-desc`}, figure);
    const d = svgEl("desc", {id: id + "-desc"}, svg);
    d.textContent = desc;
    return {svg, wasOpen};
  }

  function dataTable(figure, wasOpen, head, rows) {
    const details = el("details", null, figure);
    if (wasOpen) details.open = true;
    el("summary", "Table of these numbers", details);
    const table = el("table", null, details);
    const tr = el("tr", null, el("thead", null, table));
    head.forEach((h, i) => {
      const th = el("th", h, tr, i ? "num" : "");
      th.scope = "col";
    });
    const body = el("tbody", null, table);
    rows.forEach(row => {
      const r = el("tr", null, body);
      row.forEach((cell, i) => {
        if (i === 0) { const th = el("th", cell, r); th.scope = "row"; }
        else el("td", cell, r, "num");
      });
    });
  }

  function yAxis(svg, box, max, format) {
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      const y = box.bottom - (box.bottom - box.top) * (i / 4);
      svgEl("line", {x1: box.left, x2: box.right, y1: y, y2: y, class: i ? "grid" : "axis"}, svg);
      const t = svgEl("text", {x: box.left - 6, y: y + 4, "text-anchor": "end"}, svg);
      t.textContent = format(v);
    }
  }

  function xLabels(svg, box, labels, xOf, endLast) {
    const step = Math.max(1, Math.ceil(labels.length / 8));
    labels.forEach((label, i) => {
      const last = i === labels.length - 1;
      if ((labels.length - 1 - i) % step) return;  // counted back from the latest day
      const t = svgEl("text", {x: xOf(i), y: box.bottom + 16,
                               "text-anchor": last && endLast ? "end" : "middle"}, svg);
      t.textContent = label;
    });
  }

  function summary(series, labels, format) {
    return series.map(s => {
      const known = s.values.map((v, i) => [v, labels[i]]).filter(([v]) => v !== null);
      if (!known.length) return `${s.name}: no data`;
      const [top, day] = known.reduce((a, b) => (b[0] > a[0] ? b : a));
      return `${s.name}: latest ${format(known[known.length - 1][0])}, highest ${format(top)} on ${day}`;
    }).join(". ") + ".";
  }

  // Lines over days: {title, labels, series: [{name, values (numbers or null)}], format}.
  function lines(figure, spec) {
    const W = 640, H = 230, box = {left: 56, right: 616, top: 10, bottom: 200};
    const {svg, wasOpen} = frame(figure, spec.title, summary(spec.series, spec.labels, spec.format),
                                 spec.series, W, H);
    const all = spec.series.flatMap(s => s.values).filter(v => v !== null);
    const max = niceMax(Math.max(0, ...all), false);
    yAxis(svg, box, max, spec.format);
    const n = spec.labels.length;
    const xOf = i => (n < 2 ? (box.left + box.right) / 2 : box.left + ((box.right - box.left) * i) / (n - 1));
    const yOf = v => box.bottom - ((box.bottom - box.top) * v) / max;
    xLabels(svg, box, spec.labels, xOf, n > 1);
    spec.series.forEach((s, si) => {
      let d = "", pen = false;
      s.values.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        d += `${pen ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
        pen = true;
      });
      if (d) svgEl("path", {d, class: "line s" + si}, svg);
      s.values.forEach((v, i) => {
        if (v === null) return;
        const dot = svgEl("circle", {cx: xOf(i), cy: yOf(v), r: 3, class: "s" + si}, svg);
        svgEl("title", {}, dot).textContent = `${s.name}, ${spec.labels[i]}: ${spec.format(v)}`;
      });
    });
    dataTable(figure, wasOpen, ["Day", ...spec.series.map(s => s.name)],
              spec.labels.map((label, i) => [label, ...spec.series.map(
                s => (s.values[i] === null ? "—" : spec.format(s.values[i])))]));
  }

  // Grouped bars over days: {title, labels, series: [{name, values}], format}.
  function bars(figure, spec) {
    const W = 640, H = 230, box = {left: 44, right: 628, top: 10, bottom: 200};
    const {svg, wasOpen} = frame(figure, spec.title, summary(spec.series, spec.labels, spec.format),
                                 spec.series, W, H);
    const max = niceMax(Math.max(0, ...spec.series.flatMap(s => s.values)), true);
    yAxis(svg, box, max, spec.format);
    const n = spec.labels.length, slot = (box.right - box.left) / Math.max(1, n);
    const width = Math.max(2, (slot * 0.75) / spec.series.length);
    const xOf = i => box.left + slot * i + slot / 2;
    xLabels(svg, box, spec.labels, xOf, false);
    spec.labels.forEach((label, i) => {
      spec.series.forEach((s, si) => {
        const v = s.values[i];
        if (!v) return;
        const h = ((box.bottom - box.top) * v) / max;
        const x = xOf(i) - (width * spec.series.length) / 2 + width * si;
        const bar = svgEl("rect", {x, y: box.bottom - h, width: width - 1, height: h, class: "s" + si}, svg);
        svgEl("title", {}, bar).textContent = `${s.name}, ${label}: ${spec.format(v)}`;
      });
    });
    dataTable(figure, wasOpen, ["Day", ...spec.series.map(s => s.name)],
              spec.labels.map((label, i) => [label, ...spec.series.map(s => spec.format(s.values[i]))]));
  }

  // One horizontal bar per row against a dashed capacity outline:
  // {title, rows: [{label, value, capacity (or null), note}], head: [...], cells: row -> [...]}.
  function capacity(figure, spec) {
    const rowH = 30, W = 640, left = 150, right = 520;
    const H = Math.max(1, spec.rows.length) * rowH + 10;
    const desc = spec.rows.length ? spec.rows.map(r => `${r.label}: ${r.value} of ${
      r.capacity === null ? "no set capacity" : r.capacity} (${r.note})`).join(". ") + "."
      : "No agents to show.";
    const {svg, wasOpen} = frame(figure, spec.title, desc, null, W, H);
    const max = niceMax(Math.max(1, ...spec.rows.map(r => Math.max(r.value, r.capacity || 0))), true);
    const xOf = v => left + ((right - left) * v) / max;
    spec.rows.forEach((r, i) => {
      const y = 6 + i * rowH;
      const name = svgEl("text", {x: left - 8, y: y + 15, "text-anchor": "end"}, svg);
      name.textContent = r.label;
      if (r.value > 0) {
        const over = r.capacity !== null && r.value > r.capacity;
        const bar = svgEl("rect", {x: left, y, width: xOf(r.value) - left, height: rowH - 12,
                                   class: over ? "over" : "s0"}, svg);
        svgEl("title", {}, bar).textContent = `${r.label}: ${r.value} open`;
      }
      if (r.capacity !== null) {
        svgEl("rect", {x: left, y: y - 1, width: xOf(r.capacity) - left, height: rowH - 10,
                       class: "capacity"}, svg);
      }
      const note = svgEl("text", {x: right + 8, y: y + 15}, svg);
      note.textContent = `${r.value} / ${r.capacity === null ? "–" : r.capacity} · ${r.note}`;
    });
    dataTable(figure, wasOpen, spec.head, spec.rows.map(spec.cells));
  }

  window.TelecaseCharts = {lines, bars, capacity};
})();
