// flightlog web UI: the timeline, live updates and metric plots. Hand-written, no libraries.
// Every text from a run goes into the page as textContent, never as HTML.
"use strict";

const POLL_MS = 1000;
const ROW = 20;
const LABEL = 240;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtSeconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return (value * 1000).toFixed(1) + " ms";
  if (value < 120) return value.toFixed(2) + " s";
  if (value < 7200) return (value / 60).toFixed(1) + " min";
  return (value / 3600).toFixed(1) + " h";
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// ---- the timeline -------------------------------------------------------------------------
function unrun(packed) {
  // [value, count, value, count, ...] -> the values, repeated.
  let total = 0;
  for (let k = 1; k < packed.length; k += 2) total += packed[k];
  const out = new Array(total);
  let at = 0;
  for (let k = 0; k < packed.length; k += 2) out.fill(packed[k], at, at += packed[k + 1]);
  return out;
}

function unpack(d) {
  // The server's packing (web/timelines.py): front-coded names, start differences, stops
  // from their own start, run-length encoded codes.
  if (!d.packed) return d;
  const n = d.name_shared.length;
  const names = new Array(n);
  let previous = "";
  for (let i = 0; i < n; i++) {
    previous = previous.slice(0, d.name_shared[i]) + d.name_tail[i];
    names[i] = previous;
  }
  d.names = names;
  let last = 0;
  const start = d.start, stop = d.stop;
  for (let i = 0; i < n; i++) {
    if (start[i] !== null) { last += start[i]; start[i] = last; }
    if (stop[i] !== null) stop[i] += start[i] === null ? 0 : start[i];
  }
  for (const key of d.runs) d[key] = unrun(d[key]);
  delete d.name_shared; delete d.name_tail; delete d.packed; delete d.runs;
  return d;
}

class Timeline {
  constructor(root) {
    this.root = root;
    this.api = root.dataset.api;
    this.stepUrl = root.dataset.steps;
    this.scroll = root.querySelector(".tl-scroll");
    this.spacer = root.querySelector(".tl-spacer");
    this.rows = root.querySelector(".tl-rows");
    this.axis = root.querySelector(".tl-axis");
    this.info = root.querySelector(".tl-info");
    this.data = null;
    this.zoom = 1;
    this.pending = false;
    this.scroll.addEventListener("scroll", () => this.schedule());
    window.addEventListener("resize", () => this.schedule());
    root.querySelectorAll("[data-zoom]").forEach((button) =>
      button.addEventListener("click", () => this.setZoom(Number(button.dataset.zoom))));
    this.found = -1;
    this.find = root.querySelector(".tl-find");
    if (this.find) {
      this.find.addEventListener("change", () => {
        if (this.data) this.jumpTo(this.find.value.trim(), true);
      });
    }
  }

  jumpTo(name, remember) {
    // Scroll the step named to the view and mark its row (the address keeps it: #step=NAME).
    const index = this.data.names.indexOf(name);
    if (this.find) this.find.classList.toggle("missing", index < 0 && name !== "");
    if (index < 0) return false;
    this.found = index;
    this.reveal(index);
    this.draw();
    if (remember) history.replaceState(null, "", "#step=" + encodeURIComponent(name));
    return true;
  }

  setZoom(factor) {
    const center = (this.scroll.scrollLeft + this.scroll.clientWidth / 2) / this.zoom;
    this.zoom = factor === 0 ? 1 : Math.min(1e6, Math.max(1, this.zoom * factor));
    this.layout();
    this.scroll.scrollLeft = center * this.zoom - this.scroll.clientWidth / 2;
    this.draw();
  }

  async load() {
    const embedded = document.getElementById("timeline-data");
    this.data = unpack(embedded ? JSON.parse(embedded.textContent) : await getJSON(this.api));
    this.toSeconds(this.data, 0);
    this.order();
    this.layout();
    const asked = window.location.hash.startsWith("#step=") ?
      decodeURIComponent(window.location.hash.slice(6)) : null;
    if (asked === null || !this.jumpTo(asked, false)) {
      const failed = this.data.status_of.findIndex((code, i) =>
        this.data.statuses[code] === "FAILED" || this.data.failed[i] === 1);
      if (failed >= 0) this.reveal(failed);
    }
    this.draw();
    this.root.dataset.loaded = "1";
    performance.mark("flightlog:timeline");
    return this.data;
  }

  async refresh() {
    // Ask again from the first step that may still change (the first not yet finished).
    const d = this.data;
    let first = d.count;
    for (let i = 0; i < d.count; i++) {
      const status = d.statuses[d.status_of[i]];
      if (status === "RUNNING" || status === "PENDING") { first = i; break; }
    }
    const fresh = unpack(await getJSON(this.api + "?first=" + first));
    this.toSeconds(fresh, 0);
    for (const key of ["names", "parents", "status_of", "origin_of", "start", "stop", "failed"]) {
      d[key] = d[key].slice(0, first).concat(fresh[key]);
    }
    const names = d.tasks.slice();
    d.task = d.task.slice(0, first).concat(fresh.task.map((t) => {
      let index = names.indexOf(fresh.tasks[t]);
      if (index < 0) { names.push(fresh.tasks[t]); index = names.length - 1; }
      return index;
    }));
    d.tasks = names;
    Object.assign(d.attempts, fresh.attempts);
    Object.assign(d.saved, fresh.saved);
    for (const key of Object.keys(d.waits)) if (Number(key) >= first) delete d.waits[key];
    Object.assign(d.waits, fresh.waits);
    d.saved_total = fresh.saved_total;
    d.count = fresh.count; d.status = fresh.status; d.end = fresh.end;
    this.order();
    this.layout();
    this.draw();
    return d;
  }

  toSeconds(d) {
    // Times come as integer microseconds after the run's start.
    const f = (v) => (v === null ? null : v / 1e6);
    d.start = d.start.map(f); d.stop = d.stop.map(f);
    d.end = f(d.end);
    for (const key of Object.keys(d.attempts)) {
      d.attempts[key] = d.attempts[key].map(([a, b, s]) => [f(a), f(b), s]);
    }
  }

  order() {
    // Rows: every step in call order, each child right under its parent (depth-first).
    const d = this.data, n = d.count;
    const children = new Map();
    let nested = false;
    for (let i = 0; i < n; i++) {
      const p = d.parents[i];
      if (p >= 0) {
        nested = true;
        if (!children.has(p)) children.set(p, []);
        children.get(p).push(i);
      }
    }
    this.depth = new Uint16Array(n);
    this.children = children;
    if (!nested) { this.rowsOrder = null; return; }
    const order = [];
    const visit = (i, depth) => {
      const stack = [[i, depth]];
      while (stack.length) {
        const [j, k] = stack.pop();
        order.push(j); this.depth[j] = k;
        const kids = children.get(j);
        if (kids) for (let c = kids.length - 1; c >= 0; c--) stack.push([kids[c], k + 1]);
      }
    };
    for (let i = 0; i < n; i++) if (d.parents[i] < 0 || d.parents[i] >= n) visit(i, 0);
    this.rowsOrder = order;
  }

  indexAt(row) { return this.rowsOrder ? this.rowsOrder[row] : row; }

  reveal(index) {
    const row = this.rowsOrder ? this.rowsOrder.indexOf(index) : index;
    this.scroll.scrollTop = Math.max(0, row * ROW - this.scroll.clientHeight / 3);
  }

  span() {
    const d = this.data;
    let end = d.end === null ? (Date.now() / 1000 - d.origin) : d.end;
    // The largest stop, cheaply: steps end roughly in call order.
    for (let i = d.count - 1, seen = 0; i >= 0 && seen < 2000; i--, seen++) {
      if (d.stop[i] !== null && d.stop[i] > end) end = d.stop[i];
    }
    return Math.max(end, 1e-3);
  }

  layout() {
    const width = Math.max(200, this.scroll.clientWidth - LABEL - 20);
    this.width = width * this.zoom;
    this.spacer.style.height = (this.data.count * ROW) + "px";
    this.scroll.style.height = Math.min(440, this.data.count * ROW + 24) + "px";
    this.spacer.style.width = (LABEL + this.width + 10) + "px";
    this.scale = this.width / this.span();
    const d = this.data;
    this.info.textContent = d.count + " steps · " + fmtSeconds(this.span()) +
      (this.zoom > 1 ? " · zoom " + this.zoom + "×" : "");
    const saved = document.getElementById("tl-saved");
    if (saved) {
      saved.textContent = d.saved_total > 0 ? "replayed and cached steps saved " +
        fmtSeconds(d.saved_total) + (d.partial ? " or more" : "") : "";
    }
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; if (this.data) this.draw(); });
  }

  draw() {
    // Only the rows in view exist in the page: a 100,000-step run draws about 30.
    const d = this.data;
    const top = this.scroll.scrollTop, height = this.scroll.clientHeight || 400;
    const left = this.scroll.scrollLeft;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(d.count, Math.ceil((top + height) / ROW) + 5);
    const fragment = document.createDocumentFragment();
    const now = Date.now() / 1000 - d.origin;
    for (let row = first; row < last; row++) {
      const i = this.indexAt(row);
      const status = d.statuses[d.status_of[i]];
      const origin = d.origins[d.origin_of[i]];
      const line = el("div", i === this.found ? "tl-row tl-found" : "tl-row");
      line.style.top = (row * ROW) + "px";
      const label = el("a", "tl-label s-text-" + status, d.names[i]);
      label.href = this.stepUrl + encodeURIComponent(d.names[i]);
      label.style.left = left + "px";
      label.style.paddingLeft = (4 + 12 * (this.depth[i] || 0)) + "px";
      label.title = d.names[i] + " (" + d.tasks[d.task[i]] + ")";
      const start = d.start[i] === null ? 0 : d.start[i];
      const stop = d.stop[i] === null ? (status === "RUNNING" ? now : start) : d.stop[i];
      const bar = el("a", "tl-bar-item s-" + status + " o-" + origin);
      bar.href = label.href;
      bar.style.left = (LABEL + start * this.scale) + "px";
      bar.style.width = Math.max(2, (stop - start) * this.scale) + "px";
      const saved = d.saved[String(i)], wait = d.waits[String(i)];
      bar.title = d.names[i] + ": " + status + ", " + fmtSeconds(stop - start) +
        (origin !== "executed" ? " (" + origin + ")" : "") +
        (saved !== undefined ? "; saved " + fmtSeconds(saved) : "");
      if (saved !== undefined) bar.dataset.saved = String(saved);
      if (wait) {
        // It waited (or waits) for another step to compute its result: drawn as waiting.
        bar.classList.add("tl-waiting");
        bar.title += wait.seconds === null ? "; waiting for " + wait.text
          : "; waited " + fmtSeconds(wait.seconds) + " for " + wait.text;
      }
      const kids = this.children.get(i);
      if (kids) {
        // A parent waits on its children: the span they ran in is marked within its bar.
        let from = Infinity, to = -Infinity;
        for (const k of kids) {
          if (d.start[k] !== null) from = Math.min(from, d.start[k]);
          const end = d.stop[k] === null ? (d.start[k] === null ? null : now) : d.stop[k];
          if (end !== null) to = Math.max(to, end);
        }
        if (from < to) {
          const span = el("span", "tl-children");
          span.style.left = (Math.max(0, from - start) * this.scale) + "px";
          span.style.width = Math.max(1, (Math.min(to, stop) - Math.max(from, start)) * this.scale) + "px";
          bar.appendChild(span);
          bar.title += "; its " + kids.length + (kids.length === 1 ? " child" : " children") +
            " ran " + fmtSeconds(to - from) + " of it";
        }
      }
      const attempts = d.attempts[String(i)];
      if (attempts) {
        for (const [aStart, aStop, aStatus] of attempts) {
          const mark = el("span", "tl-attempt s-" + d.statuses[aStatus]);
          mark.style.left = ((aStart - start) * this.scale) + "px";
          mark.style.width = Math.max(1, ((aStop === null ? now : aStop) - aStart) * this.scale) + "px";
          bar.appendChild(mark);
        }
      }
      line.appendChild(bar);
      line.appendChild(label);
      fragment.appendChild(line);
    }
    this.rows.replaceChildren(fragment);
    this.root.dataset.drawn = String(last - first);
    this.drawAxis(left);
  }

  drawAxis(left) {
    const span = this.span(), ticks = 8;
    const fragment = document.createDocumentFragment();
    const visible = (this.scroll.clientWidth - LABEL) / this.scale;
    const from = Math.max(0, (left) / this.scale);
    for (let k = 0; k <= ticks; k++) {
      const t = from + (visible * k) / ticks;
      if (t > span * 1.0001) break;
      const tick = el("span", "tl-tick", fmtSeconds(t));
      tick.style.left = (LABEL + (t - from) * this.scale) + "px";
      fragment.appendChild(tick);
    }
    this.axis.replaceChildren(fragment);
  }
}

// ---- live pages ---------------------------------------------------------------------------
function live(status) { return status === "RUNNING" || status === "PENDING"; }

async function runPage() {
  const root = document.getElementById("timeline");
  if (!root) return;
  const timeline = new Timeline(root);
  let data = await timeline.load();
  const head = document.getElementById("run");
  const started = head.dataset.status;
  while (live(data.status)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try { data = await timeline.refresh(); } catch (error) { continue; }
    const chip = document.getElementById("run-status");
    chip.textContent = data.status; chip.className = "status s-" + data.status;
    document.getElementById("run-steps").textContent = String(data.count);
  }
  if (live(started)) window.location.reload(); // it ended: the whole page tells the outcome
}

async function stepPage() {
  const root = document.getElementById("step");
  if (!root || !live(root.dataset.status)) return;
  const log = document.getElementById("log");
  const filtered = document.getElementById("log-search").value || document.getElementById("log-level").value;
  let end = Number(root.dataset.logEnd);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let state;
    try { state = await getJSON(root.dataset.live + "?after=" + end); } catch (error) { continue; }
    if (state.log && !filtered) log.appendChild(document.createTextNode(state.log));
    end = state.log_end;
    if (!live(state.status)) { window.location.reload(); return; }
  }
}

// ---- metric plots -------------------------------------------------------------------------
const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null) { out[i] = null; continue; }
    last = last === null ? v : last * weight + (1 - weight) * v;
    out[i] = last;
  }
  return out;
}

function plot(canvas, series, logScale) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const pad = { l: 60, r: 10, t: 10, b: 24 };
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  const f = (v) => (logScale ? (v > 0 ? Math.log10(v) : null) : v);
  for (const s of series) {
    for (let i = 0; i < s.steps.length; i++) {
      const y = s.values[i] === null ? null : f(s.values[i]);
      if (y === null) continue;
      x0 = Math.min(x0, s.steps[i]); x1 = Math.max(x1, s.steps[i]);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (!isFinite(x0)) return 0;
  // The range drawn, for readers (and tests): a thinned series keeps its lowest and highest.
  canvas.dataset.low = String(logScale ? Math.pow(10, y0) : y0);
  canvas.dataset.high = String(logScale ? Math.pow(10, y1) : y1);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 += 1; y0 -= 1; }
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * W;
  const Y = (y) => pad.t + H - ((y - y0) / (y1 - y0)) * H;
  g.strokeStyle = "#ccc"; g.fillStyle = "#555"; g.font = "11px sans-serif";
  g.strokeRect(pad.l, pad.t, W, H);
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    const shown = logScale ? Math.pow(10, y) : y;
    g.fillText(Number(shown.toPrecision(3)).toString(), 4, Y(y) + 4);
    const x = x0 + ((x1 - x0) * k) / 4;
    g.fillText(String(Math.round(x)), X(x) - 10, height - 6);
  }
  let drawn = 0, breaks = 0;
  series.forEach((s, n) => {
    // One vertical segment per pixel column (its min and max): 100,000 points draw as ~1,000.
    g.strokeStyle = COLOURS[n % COLOURS.length]; g.lineWidth = 1.25; g.beginPath();
    let column = null, low = 0, high = 0, lastY = 0, started = false;
    const flush = () => {
      if (column === null) return;
      if (!started) { g.moveTo(column, lastY); started = true; }
      g.lineTo(column, low); g.lineTo(column, high); g.lineTo(column, lastY); drawn++;
    };
    for (let i = 0; i < s.steps.length; i++) {
      const v = s.values[i] === null ? null : f(s.values[i]);
      if (v === null) {  // a gap (not a number): the line breaks, as the series does
        if (started || column !== null) breaks++;
        flush(); column = null; started = false; continue;
      }
      const px = Math.round(X(s.steps[i])), py = Y(v);
      if (px !== column) { flush(); column = px; low = high = py; }
      low = Math.min(low, py); high = Math.max(high, py); lastY = py;
    }
    flush(); g.stroke();
  });
  canvas.dataset.breaks = String(breaks);
  return drawn;
}

async function metricsPage() {
  const root = document.getElementById("plots");
  if (!root) return;
  const runs = root.dataset.runs.split("\n").filter(Boolean);
  const query = new URLSearchParams();
  runs.forEach((run) => query.append("run", run));
  if (root.dataset.metric) query.set("name", root.dataset.metric);
  // The server thins each series to its envelope at two points per pixel column of the plot;
  // smoothing needs every point, so the whole series comes when smoothing is asked for.
  const columns = Math.ceil((root.clientWidth || 1200) * (window.devicePixelRatio || 1));
  const thinned = "/api/metrics?" + query.toString() + "&points=" + (2 * columns);
  const whole = "/api/metrics?" + query.toString();
  const smoothing = document.getElementById("metric-smooth");
  const logBox = document.getElementById("metric-log");
  let data = await getJSON(Number(smoothing.value) ? whole : thinned);
  let complete = !!Number(smoothing.value);
  const names = [...new Set(runs.flatMap((run) => Object.keys(data[run] || {})))].sort();
  const canvases = [];
  for (const name of names) {
    const box = el("div", "plot");
    box.appendChild(el("h3", null, name));
    const legend = el("p", "plot-legend");
    runs.forEach((run, n) => {
      if (!data[run] || !data[run][name]) return;
      const key = el("span", "key", run);
      key.style.borderColor = COLOURS[n % COLOURS.length];
      legend.appendChild(key);
    });
    const note = el("span", "muted plot-note");
    legend.appendChild(note);
    box.appendChild(legend);
    const canvas = el("canvas", "plot-canvas");
    box.appendChild(canvas);
    root.appendChild(box);
    canvases.push([canvas, name, note]);
  }
  const render = () => {
    const weight = Number(smoothing.value);
    let total = 0;
    for (const [canvas, name, note] of canvases) {
      const chosen = runs.filter((run) => data[run] && data[run][name]);
      const series = chosen.map((run) => ({
        steps: data[run][name].steps, values: smooth(data[run][name].values, weight) }));
      total += plot(canvas, series, logBox.checked);
      const points = chosen.reduce((sum, run) => sum + (data[run][name].total || 0), 0);
      const sent = chosen.reduce((sum, run) => sum + data[run][name].steps.length, 0);
      note.textContent = points.toLocaleString("en") + " points" +
        (sent < points ? " (their envelope: " + sent.toLocaleString("en") + " sent)" : "");
    }
    root.dataset.drawn = String(total);
    const url = new URL(window.location.href);
    url.searchParams.set("smooth", smoothing.value);
    if (logBox.checked) url.searchParams.set("log", "1"); else url.searchParams.delete("log");
    history.replaceState(null, "", url);
  };
  smoothing.addEventListener("input", async () => {
    if (!complete && Number(smoothing.value)) {
      complete = true;
      data = await getJSON(whole);
    }
    render();
  });
  logBox.addEventListener("change", render);
  render();
  performance.mark("flightlog:plotted");
  // While a run records, its series grow: fetch them again (a metric it starts tracking
  // meanwhile needs a plot of its own: the page is loaded again for it).
  const statuses = "/api/status?" + new URLSearchParams(runs.map((run) => ["run", run])).toString();
  let running = root.dataset.live === "1";
  while (running) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let now, fresh;
    try {
      now = await getJSON(statuses);
      fresh = await getJSON(complete ? whole : thinned);
    } catch (error) { continue; }
    const known = new Set(names);
    if (runs.some((run) => Object.keys(fresh[run] || {}).some((name) => !known.has(name)))) {
      window.location.reload();
      return;
    }
    data = fresh;
    render();
    root.dataset.refreshed = String(Number(root.dataset.refreshed || 0) + 1);
    running = runs.some((run) => live(now[run]));
  }
}

// ---- small things -------------------------------------------------------------------------
function forms() {
  document.querySelectorAll("form.confirm").forEach((form) =>
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    }));
  document.querySelectorAll("input.autosubmit").forEach((box) =>
    box.addEventListener("change", () => box.form.submit()));
}

document.addEventListener("DOMContentLoaded", () => {
  forms();
  runPage().catch((error) => console.warn("timeline:", error.message));
  stepPage().catch((error) => console.warn("live step:", error.message));
  metricsPage().catch((error) => console.warn("metrics:", error.message));
});
