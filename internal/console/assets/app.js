// Sluice console: a small single-page front end without a framework. It
// renders from the JSON endpoints under /console/api/ and polls them for
// live views. Every value from the server reaches the page as text nodes
// (never as HTML). Charts are uPlot, graph layouts dagre (assets/vendor).
"use strict";
(function () {
  // ---------- DOM and formatting helpers ----------
  const $ = (sel, root) => (root || document).querySelector(sel);

  // h builds an element: h("div.card#id", {attrs}, children...). Strings
  // become text nodes; null and false are skipped; arrays are flattened.
  function h(spec, attrs, ...kids) {
    const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
    const el = document.createElement(m[1] || "div");
    for (const part of (m[2] || "").match(/[.#][\w-]+/g) || []) {
      if (part[0] === ".") el.classList.add(part.slice(1)); else el.id = part.slice(1);
    }
    if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
      kids.unshift(attrs);
      attrs = null;
    }
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, kids);
    return el;
  }
  // set replaces an element's children, with h's rules for them.
  function set(el, ...kids) { el.replaceChildren(); return append(el, kids); }
  function append(el, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) append(el, k);
      else el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    for (const k of kids.flat()) if (k !== null && k !== undefined) el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    return el;
  }

  const fmt = {
    num(v, digits) {
      if (v === null || v === undefined || isNaN(v)) return "–";
      const a = Math.abs(v);
      if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
      if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
      if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
      if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
      if (a === 0) return "0";
      if (a < 10) return v.toFixed(digits === undefined ? 1 : digits).replace(/\.0$/, "");
      return Math.round(v).toString();
    },
    int(v) { return v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US"); },
    bytes(v) {
      if (v === null || v === undefined || isNaN(v)) return "–";
      const u = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
      return (i === 0 ? Math.round(v) : v.toFixed(v >= 100 ? 0 : 1)) + " " + u[i];
    },
    ms(v) {
      if (v === null || v === undefined || isNaN(v)) return "–";
      const two = (a, ua, b, ub) => a + " " + ua + (b ? " " + b + " " + ub : "");
      if (v < 1000) return Math.round(v) + " ms";
      if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 1 : 0) + " s";
      if (v < 3600000) return two(Math.floor(v / 60000), "min", Math.floor((v % 60000) / 1000), "s");
      if (v < 86400000) return two(Math.floor(v / 3600000), "h", Math.floor((v % 3600000) / 60000), "min");
      return two(Math.floor(v / 86400000), "d", Math.floor((v % 86400000) / 3600000), "h");
    },
    ago(ms) { return ms ? fmt.ms(Date.now() - ms) + " ago" : "–"; },
    time(ms) {
      const d = new Date(ms);
      const p = (n, w) => String(n).padStart(w || 2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
    },
    clock(ms) { const t = fmt.time(ms); return t.slice(11); },
    hours(hr) { return hr % 24 === 0 ? (hr / 24) + (hr === 24 ? " day" : " days") : hr + " hours"; },
    pct(v) { return (v * 100).toFixed(v < 0.01 ? 2 : 1) + "%"; },
    shortSeq(seq) { return seq && seq.length > 14 ? seq.slice(0, 6) + "…" + seq.slice(-6) : seq || "–"; },
    shard(id) { const m = /(\d+)$/.exec(id || ""); return m ? "shard " + Number(m[1]) : id; },
  };

  function statusBadge(status) {
    const cls = { ACTIVE: "ok", CREATING: "warn", UPDATING: "warn", DELETING: "bad", ok: "ok", lagging: "warn", stalled: "bad", unowned: "warn", finished: "plain", idle: "plain", MISSING: "bad" }[status] || "";
    return h("span.badge" + (cls ? "." + cls : ""), { "data-status": status }, status);
  }

  // ---------- Server calls ----------
  class APIError extends Error {
    constructor(status, type, message) { super(message || type); this.status = status; this.type = type; }
  }
  async function api(path, opts) {
    const res = await fetch("/console/api/" + path, Object.assign({ headers: { Accept: "application/json" }, credentials: "same-origin" }, opts || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const e = new APIError(res.status, body && body.__type, (body && body.message) || res.statusText);
      e.retryAfter = Number(res.headers.get("Retry-After")) || 0;
      throw e;
    }
    return body;
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json", "X-Sluice-Console": "1", Accept: "application/json" }, body: JSON.stringify(body || {}) });
  }
  function errText(e) { return e.type ? e.type.replace(/Exception$/, "") + ": " + e.message : e.message; }

  function toast(msg, bad) {
    const t = h("div.toast" + (bad ? ".bad" : ""), { "data-test": "toast" }, msg);
    $("#toasts").appendChild(t);
    setTimeout(() => t.remove(), bad ? 9000 : 4500);
  }

  // ---------- Dialogs ----------
  // dialog shows a form; onSubmit(values) may throw to keep it open with
  // the error shown. fields: {name, label, type, value, options, hint, attrs}.
  function dialog(opts) {
    const inputs = {};
    const err = h("div.err", { role: "alert" });
    const fields = (opts.fields || []).map((f) => {
      let input;
      if (f.type === "select") {
        input = h("select", { name: f.name }, f.options.map((o) => h("option", { value: o[0], selected: o[0] === f.value }, o[1])));
      } else if (f.type === "textarea") {
        input = h("textarea", { name: f.name }, f.value || "");
      } else {
        input = h("input", Object.assign({ name: f.name, type: f.type || "text", value: f.value === undefined ? "" : f.value, autocomplete: "off", spellcheck: "false" }, f.attrs || {}));
      }
      inputs[f.name] = input;
      return h("label.f", f.label, input, f.hint ? h("span.hint", f.hint) : null);
    });
    const submit = h("button.btn" + (opts.danger ? ".danger.solid" : ".primary"), { type: "submit", "data-test": "dialog-confirm" }, opts.confirm || "Confirm");
    const cancel = h("button.btn", { type: "button" }, "Cancel");
    const form = h("form", { method: "dialog" },
      h("h2", opts.title),
      opts.text ? h("div.hint", opts.text) : null,
      opts.warning ? h("div.warn-box", opts.warning) : null,
      fields, err,
      h("div.actions", cancel, submit));
    const dlg = h("dialog", { "data-test": "dialog" }, form);
    document.body.appendChild(dlg);
    const close = () => { dlg.close(); dlg.remove(); };
    cancel.addEventListener("click", close);
    dlg.addEventListener("cancel", () => setTimeout(() => dlg.remove(), 0));
    const check = () => { if (opts.requireTyped) submit.disabled = inputs[opts.requireTyped.field].value !== opts.requireTyped.value; };
    form.addEventListener("input", check);
    check();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const vals = {};
      for (const [k, el] of Object.entries(inputs)) vals[k] = el.value;
      submit.disabled = true;
      err.textContent = "";
      try {
        await opts.onSubmit(vals);
        close();
      } catch (e) {
        err.textContent = errText(e);
        submit.disabled = false;
      }
    });
    dlg.showModal();
    const first = Object.values(inputs)[0];
    if (first) first.focus();
    return dlg;
  }

  // ---------- Charts (uPlot) ----------
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  const palette = () => ["--c1", "--c2", "--c3", "--c4", "--c5", "--c6"].map(cssVar);

  // chart draws series [{label, key, fmt, scale}] of a metrics response.
  function makeChart(container, series, valueFmt) {
    let u = null;
    let last = null;
    const build = (width) => {
      const cols = palette();
      const axisStroke = cssVar("--muted");
      const grid = { stroke: cssVar("--line-2"), width: 1 };
      const opts = {
        width: Math.max(260, width),
        height: 190,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { stroke: axisStroke, grid, ticks: grid, font: "11px " + cssVar("--font") },
          { stroke: axisStroke, grid, ticks: grid, size: 76, font: "11px " + cssVar("--font"), values: (u, vals) => vals.map((v) => valueFmt(v)) },
        ],
        series: [{}].concat(series.map((sr, i) => ({
          label: sr.label,
          stroke: cols[i % cols.length],
          width: 1.8,
          fill: i === 0 ? cols[0] + "22" : undefined,
          spanGaps: false,
          points: { show: false },
          value: (u, v) => (v === null || v === undefined ? "–" : valueFmt(v)),
        }))),
      };
      return new uPlot(opts, last || [[], ...series.map(() => [])], container);
    };
    const ro = new ResizeObserver(() => {
      const w = container.clientWidth;
      if (!u) { u = build(w); return; }
      u.setSize({ width: Math.max(260, w), height: 190 });
    });
    ro.observe(container);
    return {
      update(m) {
        last = [m.t.map((t) => t / 1000), ...series.map((sr) => (m.series[sr.key] || []).map((v) => (v === null ? null : v)))];
        if (u) u.setData(last);
      },
      rebuild() { if (u) { u.destroy(); u = build(container.clientWidth); } },
      destroy() { ro.disconnect(); if (u) u.destroy(); },
    };
  }

  function sparkline(vals, w, hgt) {
    w = w || 96; hgt = hgt || 26;
    const svg = s("svg", { class: "spark", width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, "aria-hidden": "true" });
    const v = (vals || []).map((x) => (x === null || isNaN(x) ? 0 : x));
    if (v.length < 2) return svg;
    const max = Math.max(...v, 1e-9);
    const pts = v.map((x, i) => [(i / (v.length - 1)) * w, hgt - 2 - (x / max) * (hgt - 4)]);
    const line = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    svg.appendChild(s("path", { class: "area", d: line + ` L ${w} ${hgt} L 0 ${hgt} Z` }));
    svg.appendChild(s("path", { class: "line", d: line }));
    return svg;
  }

  // ---------- Graph drawing (dagre) ----------
  // drawGraph lays out nodes [{id, w, h, draw(g)}] and edges [{from, to,
  // label, width, live}] and returns an SVG.
  function drawGraph(nodes, edges, opts) {
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: opts.rankdir || "LR", nodesep: opts.nodesep || 26, ranksep: opts.ranksep || 70, edgesep: 12, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) g.setNode(n.id, { width: n.w, height: n.h });
    edges.forEach((e, i) => {
      if (!g.hasNode(e.from) || !g.hasNode(e.to)) return;
      const lw = e.label ? e.label.length * 6.4 + 8 : 0;
      g.setEdge(e.from, e.to, { width: lw, height: e.label ? 16 : 0, labelpos: "c", minlen: 1 }, "e" + i);
    });
    dagre.layout(g);
    const gw = Math.ceil(g.graph().width || 100), gh = Math.ceil(g.graph().height || 60);
    const svg = s("svg", { class: "g", width: gw, height: gh, viewBox: `0 0 ${gw} ${gh}`, role: "img", "aria-label": opts.label || "graph" });
    svg.appendChild(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0 0 L10 5 L0 10 z" }))));
    edges.forEach((e, i) => {
      const ed = g.edge({ v: e.from, w: e.to, name: "e" + i });
      if (!ed) return;
      const p = ed.points;
      let d = `M${p[0].x} ${p[0].y}`;
      for (let k = 1; k < p.length - 1; k++) d += ` Q${p[k].x} ${p[k].y} ${(p[k].x + p[k + 1].x) / 2} ${(p[k].y + p[k + 1].y) / 2}`;
      d += ` L${p[p.length - 1].x} ${p[p.length - 1].y}`;
      svg.appendChild(s("path", { class: "edge" + (e.live ? " live" : ""), d, "stroke-width": e.width || 1.4, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
      if (e.label && ed.x !== undefined) svg.appendChild(s("text", { class: "elabel", x: ed.x, y: ed.y + 4, "text-anchor": "middle" }, e.label));
    });
    for (const n of nodes) {
      const pos = g.node(n.id);
      const grp = s("g", { transform: `translate(${pos.x - n.w / 2},${pos.y - n.h / 2})` });
      n.draw(grp);
      svg.appendChild(grp);
    }
    return svg;
  }

  // ---------- Router and pages ----------
  const content = $("#content");
  let page = null; // the current page: {destroy()}
  const pollers = new Set();

  // poll runs fn now and every ms while the page is shown and visible.
  function poll(fn, ms) {
    let timer = null, stopped = false;
    const run = async () => {
      if (stopped) return;
      if (!document.hidden) { try { await fn(); } catch (e) { /* shown by fn */ } }
      if (!stopped) timer = setTimeout(run, ms);
    };
    const p = { stop() { stopped = true; clearTimeout(timer); pollers.delete(p); }, now() { clearTimeout(timer); run(); } };
    pollers.add(p);
    run();
    return p;
  }

  function crumbs(...parts) {
    const c = $("#crumbs");
    set(c);
    parts.forEach((p, i) => {
      if (i) c.appendChild(h("span.sep", "/"));
      c.appendChild(typeof p === "string" ? h("span.here", p) : p);
    });
  }
  function topActions(...btns) { set($("#top-actions"), btns); }

  function navigate(path, replace) {
    if (replace) history.replaceState(null, "", path); else history.pushState(null, "", path);
    render();
  }
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-link]");
    if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    navigate(a.getAttribute("href"));
  });
  window.addEventListener("popstate", render);

  function render() {
    if (page && page.destroy) page.destroy();
    for (const p of [...pollers]) p.stop();
    set(content);
    topActions();
    const path = location.pathname.replace(/\/+$/, "");
    let m;
    let nav = "overview";
    if (path === "/console" || path === "") page = overviewPage();
    else if ((m = /^\/console\/streams\/([^/]+)(?:\/([a-z]+))?$/.exec(path))) page = streamPage(decodeURIComponent(m[1]), m[2] || "monitoring");
    else if (path === "/console/applications") { page = appsPage(); nav = "applications"; }
    else if (path === "/console/graph") { page = graphPage(); nav = "graph"; }
    else { page = null; crumbs("Not found"); content.appendChild(h("div.empty", h("b", "No such page"), h("a", { href: "/console/", "data-link": true }, "Back to the streams"))); }
    document.querySelectorAll(".nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    highlightSideStream();
  }

  // The sidebar's stream list, refreshed with the overview.
  let sideStreams = [];
  function setSideStreams(list) {
    sideStreams = list;
    const box = $("#side-streams");
    set(box, h("div.label", "Streams"), list.length === 0 ? h("div.label", "none yet") : null,
      list.map((st) => h("a", { href: "/console/streams/" + encodeURIComponent(st.name), "data-link": true, "data-stream": st.name, title: st.name }, statusDot(st.status), st.name)));
    highlightSideStream();
  }
  function statusDot(status) {
    const color = { ACTIVE: "var(--ok)", CREATING: "var(--warn)", UPDATING: "var(--warn)", DELETING: "var(--bad)" }[status] || "var(--faint)";
    const d = s("svg", { width: 8, height: 8, "aria-hidden": "true" }, s("circle", { cx: 4, cy: 4, r: 4, fill: color }));
    return d;
  }
  function highlightSideStream() {
    const m = /^\/console\/streams\/([^/]+)/.exec(location.pathname);
    const cur = m ? decodeURIComponent(m[1]) : null;
    document.querySelectorAll("#side-streams a").forEach((a) => a.classList.toggle("active", a.dataset.stream === cur));
  }
  async function refreshSide() { try { setSideStreams((await api("overview")).streams); } catch (e) { /* next time */ } }

  // ---------- Overview ----------
  function createStreamDialog() {
    dialog({
      title: "Create a stream",
      confirm: "Create stream",
      fields: [
        { name: "name", label: "Stream name", hint: "Letters, digits, '_', '.' and '-'; up to 128 characters.", attrs: { "data-test": "create-name", required: true, maxlength: 128, pattern: "[a-zA-Z0-9_.\\-]+" } },
        { name: "mode", label: "Capacity mode", type: "select", value: "PROVISIONED", options: [["PROVISIONED", "Provisioned: you choose the shards"], ["ON_DEMAND", "On-demand: shards follow the load"]] },
        { name: "shards", label: "Shards (provisioned)", type: "number", value: 2, attrs: { min: 1, max: 10000, "data-test": "create-shards" }, hint: "Each shard takes 1 MiB/s or 1,000 records/s of writes." },
      ],
      async onSubmit(v) {
        await post("streams", { name: v.name.trim(), mode: v.mode, shards: v.mode === "ON_DEMAND" ? 0 : Number(v.shards) });
        toast(`Stream ${v.name.trim()} created.`);
        await refreshSide();
        navigate("/console/streams/" + encodeURIComponent(v.name.trim()));
      },
    });
  }

  function overviewPage() {
    crumbs("Streams");
    topActions(h("button.btn.primary", { onclick: createStreamDialog, "data-test": "create-stream" }, "+ Create stream"));
    const head = h("div.page-head", h("div", h("h1", "Streams"), h("div.sub#ov-sub", "Loading…")));
    const stats = h("div.stats#ov-stats");
    const table = h("div.card.flush#ov-table");
    content.append(head, stats, table);
    poll(async () => {
      let d;
      try { d = await api("overview"); } catch (e) { $("#ov-sub").textContent = "The server did not answer: " + errText(e); return; }
      setSideStreams(d.streams);
      const sv = d.server;
      const st = sv.storage;
      set($("#ov-sub"), 
        h("span", `${sv.streams} ${sv.streams === 1 ? "stream" : "streams"} · ${sv.openShards} open shards`),
        st ? h("span", { title: st.location }, (st.embedded ? "Embedded JetStream" : `JetStream cluster, ${st.replicas} replicas`) + " · " + fmt.bytes(st.bytes) + " stored") : null,
        h("span", "up " + fmt.ms(sv.uptimeSeconds * 1000)),
        sv.storageError ? h("span.badge.bad", sv.storageError) : h("span.badge.ok", "healthy"));
      set($("#ov-stats"), 
        stat("Incoming records", fmt.num(sv.incomingRecords), "/s", "all streams, this server"),
        stat("Incoming data", fmt.bytes(sv.incomingBytes), "/s", ""),
        stat("Records read", fmt.num(sv.getRecords), "/s", "GetRecords"),
        stat("Storage", st ? fmt.bytes(st.bytes) : "–", "", st ? `${st.logs} logs · ${st.location}` : ""),
        stat("Uptime", fmt.ms(sv.uptimeSeconds * 1000).split(" ").slice(0, 2).join(" "), "", "since " + fmt.time(sv.startedAt).slice(0, 19)));
      renderStreamTable($("#ov-table"), d.streams);
    }, 2000);
    return {};
  }

  function stat(k, v, unit, detail) {
    return h("div.stat", h("div.k", k), h("div.v", v, unit ? h("small", unit) : null), detail ? h("div.d", { title: detail }, detail) : null);
  }

  function renderStreamTable(box, streams) {
    if (streams.length === 0) {
      set(box, h("div.empty", { "data-test": "no-streams" },
        h("b", "No streams yet"),
        h("p", "Create one here, or from any Kinesis client pointed at this server:"),
        h("p", h("code", `aws kinesis create-stream --endpoint-url ${location.origin} --stream-name demo --shard-count 2`)),
        h("button.btn.primary", { onclick: createStreamDialog }, "+ Create stream")));
      return;
    }
    const rows = streams.map((st) => h("tr", { "data-stream": st.name },
      h("td.name", h("a", { href: "/console/streams/" + encodeURIComponent(st.name), "data-link": true }, st.name), st.encryption === "KMS" ? [" ", h("span.badge.info.plain", { title: "encrypted at rest" }, "KMS")] : null),
      h("td", statusBadge(st.status)),
      h("td", st.mode === "ON_DEMAND" ? "On-demand" : "Provisioned"),
      h("td.num", { "data-test": "open-shards" }, st.openShards, st.closedShards ? h("span.dim", ` +${st.closedShards} closed`) : null),
      h("td", fmt.hours(st.retentionHours)),
      h("td.num", st.consumers + st.applications || h("span.dim", "0"), st.consumers ? h("span.dim", ` (${st.consumers} fan-out)`) : null),
      h("td.num", fmt.num(st.incomingRecords)),
      h("td", sparkline(st.spark)),
      h("td.num", fmt.bytes(st.incomingBytes) + "/s"),
      h("td.num", fmt.num(st.getRecords)),
      h("td.num", st.writeThrottled + st.readThrottled > 0 ? h("span.badge.warn", fmt.num(st.writeThrottled + st.readThrottled) + "/s") : h("span.dim", "0")),
      h("td.num", st.iteratorAgeMillis > 0 ? fmt.ms(st.iteratorAgeMillis) : h("span.dim", "–"))));
    set(box, h("div.table-wrap", h("table.t#streams-table",
      h("thead", h("tr", h("th", "Name"), h("th", "Status"), h("th", "Capacity"), h("th.num", "Open shards"), h("th", "Retention"),
        h("th.num", "Readers"), h("th.num", "Records/s"), h("th", "Last 2 min"), h("th.num", "Bytes/s"), h("th.num", "Reads/s"), h("th.num", "Throttled"), h("th.num", "Iterator age"))),
      h("tbody", rows))));
  }

  // ---------- A stream ----------
  const tabs = [["monitoring", "Monitoring"], ["shards", "Shards"], ["data", "Data viewer"], ["consumers", "Consumers"], ["configuration", "Configuration"]];

  function streamPage(name, tab) {
    const base = "/console/streams/" + encodeURIComponent(name);
    crumbs(h("a", { href: "/console/", "data-link": true }, "Streams"), name);
    const head = h("div.page-head", h("div", h("h1", { "data-test": "stream-name" }, name, " ", h("span#st-status")), h("div.sub#st-sub", "Loading…")));
    const tabBar = h("nav.tabs", tabs.map(([k, label]) => h("a", { href: base + (k === "monitoring" ? "" : "/" + k), "data-link": true, class: k === tab ? "active" : "", "data-tab": k }, label)));
    const body = h("div#st-body");
    content.append(head, h("div#st-banner"), tabBar, body);
    let desc = null;
    const listeners = [];
    const onDesc = (fn) => listeners.push(fn);
    const menu = h("div.menu", h("button.btn", { "data-test": "stream-actions", onclick: (e) => { e.stopPropagation(); menu.classList.toggle("open"); } }, "Actions ▾"),
      h("div.menu-list",
        h("button", { onclick: () => shardCountDialog(), "data-test": "action-shard-count" }, "Update shard count…"),
        h("button", { onclick: () => retentionDialog(), "data-test": "action-retention" }, "Change retention…"),
        h("button", { onclick: () => modeDialog() }, "Switch capacity mode…"),
        h("button.danger", { onclick: () => deleteDialog(), "data-test": "action-delete" }, "Delete stream…")));
    const closeMenu = () => menu.classList.remove("open");
    document.addEventListener("click", closeMenu);
    topActions(h("button.btn", { onclick: () => putRecordDialog(), "data-test": "put-record" }, "Put test record"), menu);

    const refresh = async () => {
      try {
        desc = await api("streams/" + encodeURIComponent(name));
      } catch (e) {
        if (e.status === 400 && e.type === "ResourceNotFoundException") {
          $("#st-sub").textContent = "";
          set($("#st-status"), statusBadge("DELETED"));
          set(body, h("div.empty", { "data-test": "stream-gone" }, h("b", `Stream ${name} does not exist`), h("a", { href: "/console/", "data-link": true }, "Back to the streams")));
          tabBar.remove();
          return;
        }
        $("#st-sub").textContent = errText(e);
        return;
      }
      set($("#st-status"), statusBadge(desc.status));
      set($("#st-sub"), 
        h("span", desc.mode === "ON_DEMAND" ? "On-demand" : "Provisioned"),
        h("span", { "data-test": "stream-open-shards" }, `${desc.openShards} open ${desc.openShards === 1 ? "shard" : "shards"}`),
        h("span", "retention " + fmt.hours(desc.retentionHours)),
        h("span", desc.encryption === "KMS" ? "encrypted (KMS)" : "not encrypted"),
        h("span", "created " + fmt.ago(desc.createdAt)),
        h("code.copy", { title: "Copy the ARN", onclick: () => copy(desc.arn) }, desc.arn));
      set($("#st-banner"), desc.scalingTarget ? h("div.banner", `Scaling to ${desc.scalingTarget} shards: the stream is UPDATING while shards are split and merged one at a time.`) : null);
      listeners.forEach((fn) => fn(desc));
    };
    const descPoll = poll(refresh, 2000);
    const after = async (msg) => { toast(msg); descPoll.now(); refreshSide(); };

    function shardCountDialog() {
      closeMenu();
      dialog({
        title: "Update shard count", confirm: "Update", text: "Splits and merges shards into equal hash ranges, one step at a time; writes go on meanwhile.",
        fields: [{ name: "target", label: "Target open shards", type: "number", value: desc ? desc.openShards : 1, attrs: { min: 1, "data-test": "target-shards" }, hint: "Between half and double the open shards, as in AWS." }],
        async onSubmit(v) { const r = await post(`streams/${encodeURIComponent(name)}/shard-count`, { target: Number(v.target) }); after(`Scaling from ${r.current} to ${r.target} shards.`); },
      });
    }
    function retentionDialog() {
      closeMenu();
      dialog({
        title: "Change retention", confirm: "Save",
        fields: [{ name: "hours", label: "Retention (hours)", type: "number", value: desc ? desc.retentionHours : 24, attrs: { min: 24, max: 8760, "data-test": "retention-hours" }, hint: "24 hours to 365 days (8,760 hours). Lowering it drops older records." }],
        async onSubmit(v) { await post(`streams/${encodeURIComponent(name)}/retention`, { hours: Number(v.hours) }); after(`Retention is now ${fmt.hours(Number(v.hours))}.`); },
      });
    }
    function modeDialog() {
      closeMenu();
      const to = desc && desc.mode === "ON_DEMAND" ? "PROVISIONED" : "ON_DEMAND";
      dialog({
        title: "Switch capacity mode", confirm: "Switch to " + (to === "ON_DEMAND" ? "on-demand" : "provisioned"),
        text: to === "ON_DEMAND" ? "The server will split hot shards and merge cold ones by itself." : "The shard count stays as it is until you change it.",
        fields: [], async onSubmit() { await post(`streams/${encodeURIComponent(name)}/mode`, { mode: to }); after("Capacity mode switched."); },
      });
    }
    function deleteDialog() {
      closeMenu();
      dialog({
        title: `Delete ${name}?`, confirm: "Delete stream", danger: true,
        warning: "Every record of the stream is deleted with it, and its fan-out consumers are deregistered. This cannot be undone.",
        fields: [{ name: "confirm", label: `Type the stream's name to confirm`, attrs: { "data-test": "delete-confirm", placeholder: name } }],
        requireTyped: { field: "confirm", value: name },
        async onSubmit() {
          await post(`streams/${encodeURIComponent(name)}/delete`, { enforceConsumerDeletion: true });
          toast(`Stream ${name} is being deleted.`);
          await refreshSide();
          navigate("/console/");
        },
      });
    }
    function putRecordDialog() {
      dialog({
        title: "Put a test record", confirm: "Put record",
        fields: [
          { name: "partitionKey", label: "Partition key", value: "test-" + Math.random().toString(36).slice(2, 8), attrs: { "data-test": "put-pk" } },
          { name: "data", label: "Data", type: "textarea", value: JSON.stringify({ hello: "from the Sluice console", at: new Date().toISOString() }, null, 2) },
          { name: "encoding", label: "Data is", type: "select", value: "text", options: [["text", "Text (UTF-8)"], ["base64", "Base64 (binary)"]] },
        ],
        async onSubmit(v) {
          const r = await post(`streams/${encodeURIComponent(name)}/records`, { partitionKey: v.partitionKey, data: v.data, encoding: v.encoding });
          after(`Stored in ${r.shardId} as ${fmt.shortSeq(r.sequenceNumber)}.`);
        },
      });
    }

    let sub = null;
    if (tab === "monitoring") sub = monitoringTab(body, name, onDesc);
    else if (tab === "shards") sub = shardsTab(body, name, onDesc, after);
    else if (tab === "data") sub = dataTab(body, name, onDesc);
    else if (tab === "consumers") sub = consumersTab(body, onDesc);
    else if (tab === "configuration") sub = configTab(body, name, onDesc, after);
    return { destroy() { document.removeEventListener("click", closeMenu); if (sub && sub.destroy) sub.destroy(); } };
  }

  function copy(text) {
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => toast("Copied."), () => {});
  }

  // Monitoring: charts of the stream or one shard.
  function monitoringTab(body, name, onDesc) {
    const select = h("select#metric-shard", { "data-test": "metric-shard" }, h("option", { value: "" }, "Whole stream"));
    const defs = [
      { title: "Incoming records", unit: "/s", f: (v) => fmt.num(v), series: [{ label: "records/s", key: "incomingRecords" }] },
      { title: "Incoming data", unit: "", f: (v) => fmt.bytes(v) + "/s", series: [{ label: "bytes/s", key: "incomingBytes" }] },
      { title: "GetRecords", unit: "/s", f: (v) => fmt.num(v), series: [{ label: "records/s", key: "getRecords" }, { label: "calls/s", key: "getCalls" }] },
      { title: "Iterator age", unit: "", f: (v) => fmt.ms(v), series: [{ label: "ms behind", key: "iteratorAgeMillis" }] },
      { title: "Throttled", unit: "/s", f: (v) => fmt.num(v), series: [{ label: "write records/s", key: "writeThrottled" }, { label: "read calls/s", key: "readThrottled" }] },
      { title: "Enhanced fan-out", unit: "/s", f: (v) => fmt.num(v), series: [{ label: "records sent/s", key: "subscribeRecords" }] },
    ];
    const charts = [];
    const grid = h("div.grid2");
    for (const d of defs) {
      const now = h("span.now", { "data-now": d.series[0].key }, "–");
      const box = h("div.chart", { "data-chart": d.series[0].key });
      grid.appendChild(h("div.card", h("div.chart-title", h("h2", d.title), now), box));
      charts.push({ d, now, c: makeChart(box, d.series, d.f) });
    }
    body.append(h("div.card-head", h("div.hint", "Rates between samples the server takes every few seconds; the last 10 minutes (5 for a shard). Iterator age is the MillisBehindLatest of the latest GetRecords."), h("label.f.shrink", "Show", select)), grid);
    let shardIds = [];
    onDesc((d) => {
      const ids = d.shards.map((sh) => sh.id);
      if (ids.join() === shardIds.join()) return;
      shardIds = ids;
      const cur = select.value;
      set(select, h("option", { value: "" }, "Whole stream"), d.shards.map((sh) => h("option", { value: sh.id }, sh.id + (sh.open ? "" : " (closed)"))));
      select.value = ids.includes(cur) ? cur : "";
    });
    const p = poll(async () => {
      const q = select.value ? "?shard=" + encodeURIComponent(select.value) : "";
      let m;
      try { m = await api(`streams/${encodeURIComponent(name)}/metrics${q}`); } catch (e) { return; }
      for (const ch of charts) {
        ch.c.update(m);
        const vals = m.series[ch.d.series[0].key] || [];
        let last = null;
        for (let i = vals.length - 1; i >= 0; i--) if (vals[i] !== null) { last = vals[i]; break; }
        ch.now.textContent = last === null ? "–" : ch.d.f(last) + (ch.d.unit && !ch.d.f(last).endsWith("/s") ? ch.d.unit : "");
        ch.now.dataset.value = last === null ? "" : String(last);
      }
    }, 2000);
    select.addEventListener("change", () => p.now());
    const onTheme = () => charts.forEach((ch) => ch.c.rebuild());
    document.addEventListener("themechange", onTheme);
    return { destroy() { document.removeEventListener("themechange", onTheme); charts.forEach((ch) => ch.c.destroy()); } };
  }

  // Shards: the key space, the table with split and merge, the lineage.
  function shardsTab(body, name, onDesc, after) {
    const keyspace = h("div.card", h("div.card-head", h("h2", "Hash key space"), h("span.hint", "Open shards by the share of partition keys they take; darker is busier.")), h("div#keyspace"));
    const table = h("div.card.flush", h("div.card-head", h("h2", "Shards")), h("div#shard-table"));
    const lineage = h("div.card", h("div.card-head", h("h2", "Lineage"), h("span.hint", "Splits and merges over time: parents above their children.")), h("div#lineage"));
    body.append(keyspace, table, lineage);
    let lastShape = "";
    onDesc((d) => {
      const open = d.shards.filter((sh) => sh.open);
      const maxRate = Math.max(1, ...open.map((sh) => sh.incomingRecords));
      const accent = cssVar("--accent");
      set($("#keyspace"), h("div.keyspace", { "data-test": "keyspace" }, open.map((sh) => {
        const el = h("div", { title: `${sh.id}: ${fmt.pct(sh.hashShare)} of keys, ${fmt.num(sh.incomingRecords)} records/s` });
        el.style.flex = String(sh.hashShare);
        el.style.background = `color-mix(in srgb, ${accent} ${Math.round(18 + 70 * (sh.incomingRecords / maxRate))}%, transparent)`;
        return el;
      })), h("div.keyspace-axis", h("span", "0"), h("span", "2¹²⁸ − 1")));
      const rows = d.shards.map((sh, i) => {
        const next = d.shards.slice(i + 1).find((o) => o.open && sh.open && BigInt(o.startingHashKey) === BigInt(sh.endingHashKey) + 1n);
        return h("tr", { class: sh.open ? "" : "row-closed", "data-shard": sh.id },
          h("td.mono", sh.id),
          h("td", sh.open ? h("span.badge.ok", "open") : h("span.badge.plain", "closed")),
          h("td.num", fmt.pct(sh.hashShare)),
          h("td.mono", { title: sh.startingHashKey + " – " + sh.endingHashKey }, fmt.shortSeq(sh.startingHashKey) + " – " + fmt.shortSeq(sh.endingHashKey)),
          h("td.mono", { title: (sh.startingSequenceNumber || "") + (sh.endingSequenceNumber ? " – " + sh.endingSequenceNumber : " – (open)") }, fmt.shortSeq(sh.startingSequenceNumber) + " – " + (sh.endingSequenceNumber ? fmt.shortSeq(sh.endingSequenceNumber) : "…")),
          h("td.mono", [sh.parent, sh.adjacentParent].filter(Boolean).map(fmt.shard).join(" + ") || h("span.dim", "–")),
          h("td", fmt.ago(sh.createdAt)),
          h("td.num", sh.open ? fmt.num(sh.incomingRecords) : h("span.dim", "–")),
          h("td", sh.open ? [
            h("button.btn.small", { "data-test": "split-" + sh.id, onclick: () => splitDialog(sh) }, "Split"), " ",
            next ? h("button.btn.small", { "data-test": "merge-" + sh.id, onclick: () => mergeDialog(sh, next) }, "Merge with " + fmt.shard(next.id)) : null,
          ] : null));
      });
      set($("#shard-table"), h("div.table-wrap", h("table.t#shards",
        h("thead", h("tr", h("th", "Shard"), h("th", "State"), h("th.num", "Keys"), h("th", "Hash range"), h("th", "Sequence range"), h("th", "Parents"), h("th", "Created"), h("th.num", "Records/s"), h("th", ""))),
        h("tbody", rows))));
      const shape = d.shards.map((sh) => sh.id + (sh.open ? "o" : "c")).join();
      if (shape !== lastShape) { lastShape = shape; drawLineage(d); }
    });
    function drawLineage(d) {
      const byId = new Map(d.shards.map((sh) => [sh.id, sh]));
      const hasKids = new Set();
      d.shards.forEach((sh) => { if (sh.parent) hasKids.add(sh.parent); if (sh.adjacentParent) hasKids.add(sh.adjacentParent); });
      const involved = d.shards.filter((sh) => sh.parent || hasKids.has(sh.id));
      const shown = d.shards.length <= 48 ? d.shards : involved;
      const box = $("#lineage");
      if (involved.length === 0) {
        set(box, h("div.empty", { "data-test": "lineage-empty" }, h("b", "No splits or merges yet"), `All ${d.shards.length} shards are as the stream was created.`));
        return;
      }
      const nodes = shown.map((sh) => ({
        id: sh.id, w: 150, h: 50,
        draw(g) {
          g.setAttribute("class", "node " + (sh.open ? "open" : "closed"));
          g.setAttribute("data-shard", sh.id);
          g.appendChild(s("rect", { width: 150, height: 50, rx: 8 }));
          g.appendChild(s("text", { class: "title", x: 12, y: 21 }, fmt.shard(sh.id)));
          g.appendChild(s("text", { class: "sub", x: 12, y: 38 }, (sh.open ? "open" : "closed") + " · " + fmt.pct(sh.hashShare)));
        },
      }));
      const edges = [];
      for (const sh of shown) for (const p of [sh.parent, sh.adjacentParent]) if (p && byId.has(p)) edges.push({ from: p, to: sh.id });
      const svg = drawGraph(nodes, edges, { rankdir: "TB", nodesep: 18, ranksep: 46, label: "shard lineage" });
      set(box, h("div.graph-wrap", { "data-test": "lineage" }, svg),
        shown.length < d.shards.length ? h("p.hint", `${d.shards.length - shown.length} shards without splits or merges are left out.`) : null);
    }
    function splitDialog(sh) {
      const mid = ((BigInt(sh.startingHashKey) + BigInt(sh.endingHashKey) + 1n) >> 1n).toString();
      dialog({
        title: `Split ${sh.id}`, confirm: "Split shard",
        text: "The shard closes and two children take its hash range, divided at the key below. Writes go on; readers move to the children after the parent.",
        fields: [{ name: "key", label: "New starting hash key", value: mid, attrs: { "data-test": "split-key" }, hint: "The middle of the range by default." }],
        async onSubmit(v) { await post(`streams/${encodeURIComponent(name)}/split`, { shard: sh.id, newStartingHashKey: v.key.trim() }); after(`${sh.id} split.`); },
      });
    }
    function mergeDialog(a, b) {
      dialog({
        title: `Merge ${fmt.shard(a.id)} and ${fmt.shard(b.id)}`, confirm: "Merge shards",
        text: `Both shards close and one child takes their adjacent ranges (${fmt.pct(a.hashShare + b.hashShare)} of keys).`,
        fields: [], async onSubmit() { await post(`streams/${encodeURIComponent(name)}/merge`, { shard: a.id, adjacent: b.id }); after(`${a.id} and ${b.id} merged.`); },
      });
    }
    return {};
  }

  // The data viewer and live tail.
  function dataTab(body, name, onDesc) {
    const st = { cursor: "", records: [], following: false, timer: null, format: "auto", busy: false, open: new Set(), gen: 0 };
    const shardSel = h("select", { "data-test": "viewer-shard" }, h("option", { value: "" }, "All shards"));
    const posSel = h("select", { "data-test": "viewer-position" },
      [["TRIM_HORIZON", "Oldest record"], ["LATEST", "New records only"], ["AT_TIMESTAMP", "A point in time"], ["AT_SEQUENCE_NUMBER", "A sequence number"]].map(([v, l]) => h("option", { value: v }, l)));
    const posVal = h("input", { placeholder: "", "data-test": "viewer-position-value", disabled: true });
    const pkIn = h("input", { placeholder: "exact, or prefix*", "data-test": "viewer-pk" });
    const qIn = h("input", { placeholder: "text in the data", "data-test": "viewer-q" });
    const readBtn = h("button.btn.primary", { "data-test": "viewer-read" }, "Read");
    const nextBtn = h("button.btn", { "data-test": "viewer-next", disabled: true }, "Next page");
    const followBtn = h("button.btn", { "data-test": "viewer-follow" }, "● Follow live");
    const formats = [["auto", "Auto"], ["json", "JSON"], ["text", "Text"], ["hex", "Hex"], ["base64", "Base64"]];
    const seg = h("div.seg", { role: "group", "aria-label": "payload format" }, formats.map(([v, l]) => h("button", { type: "button", "data-format": v, class: v === "auto" ? "on" : "" }, l)));
    const status = h("div.status", { "data-test": "viewer-status" }, "Choose where to start and press Read, or follow new records live.");
    const list = h("div.card.flush", h("div#records"));
    body.append(
      h("div.card", h("div.viewer-controls",
        h("label.f", "Shards", shardSel), h("label.f", "Start at", posSel), h("label.f", "Position", posVal),
        h("label.f", "Partition key", pkIn), h("label.f", "Data contains", qIn)),
        h("div.viewer-bar", h("div.viewer-buttons", readBtn, nextBtn, followBtn, status), seg)),
      list);
    renderRecords();
    onDesc((d) => {
      const cur = shardSel.value;
      const ids = d.shards.map((sh) => sh.id);
      if (shardSel.options.length - 1 !== ids.length) {
        set(shardSel, h("option", { value: "" }, "All shards"), d.shards.map((sh) => h("option", { value: sh.id }, sh.id + (sh.open ? "" : " (closed)"))));
        shardSel.value = ids.includes(cur) ? cur : "";
      }
    });
    posSel.addEventListener("change", () => {
      const t = posSel.value;
      posVal.disabled = t === "TRIM_HORIZON" || t === "LATEST";
      posVal.placeholder = t === "AT_TIMESTAMP" ? "2025-01-31T12:00:00Z or Unix ms" : t === "AT_SEQUENCE_NUMBER" ? "a sequence number" : "";
      if (t === "AT_TIMESTAMP" && !posVal.value) posVal.value = new Date(Date.now() - 3600e3).toISOString().slice(0, 19) + "Z";
    });
    seg.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-format]");
      if (!b) return;
      st.format = b.dataset.format;
      seg.querySelectorAll("button").forEach((x) => x.classList.toggle("on", x === b));
      renderRecords();
    });

    function query(withStart, type) {
      const p = new URLSearchParams();
      if (withStart) {
        if (shardSel.value) p.set("shards", shardSel.value);
        p.set("type", type || posSel.value);
        if (posSel.value === "AT_TIMESTAMP") p.set("ts", posVal.value.trim());
        if (posSel.value === "AT_SEQUENCE_NUMBER") p.set("seq", posVal.value.trim());
      } else p.set("cursor", st.cursor);
      if (pkIn.value) p.set("pk", pkIn.value);
      if (qIn.value) p.set("q", qIn.value);
      p.set("limit", "100");
      return `streams/${encodeURIComponent(name)}/records?` + p.toString();
    }
    const maxKept = 1000, maxFollowed = 300;
    // read fetches a page; a new start (fresh) drops what is shown.
    async function read(fresh, type) {
      if (st.busy) return null;
      st.busy = true;
      const gen = st.gen;
      try {
        const page = await api(query(fresh, type));
        if (gen !== st.gen) return null;
        if (fresh && !type) { st.records = []; st.open.clear(); }
        page.records.forEach((r) => { r.fresh = !fresh || st.following; });
        st.records = st.records.concat(page.records);
        const keep = st.following ? maxFollowed : maxKept;
        if (st.records.length > keep) st.records = st.records.slice(st.records.length - keep);
        st.cursor = page.cursor;
        st.last = page;
        nextBtn.disabled = !st.cursor || st.following;
        renderStatus();
        renderRecords();
        return page;
      } finally { st.busy = false; }
    }
    function renderStatus() {
      const p = st.last;
      const parts = [];
      if (st.following) parts.push(h("span.pulse"), h("b", "Following live"));
      parts.push(h("span", { "data-test": "viewer-count" }, `${st.records.length} ${st.records.length === 1 ? "record" : "records"}`));
      if (p) {
        parts.push(h("span", p.caughtUp ? "at the newest record" : fmt.ms(p.millisBehind) + " behind the newest"));
        if (p.scanned && (pkIn.value || qIn.value)) parts.push(h("span", `${p.scanned} scanned`));
        if (!p.cursor) parts.push(h("span", "every shard read to its end"));
        if (st.skipped && st.following) parts.push(h("span", { title: "The stream is written faster than the tail can show: it jumped to the newest records." }, `skipped ahead ${st.skipped}×`));
      }
      set(status, ...parts);
    }
    // Following asks for a page every second once caught up, twice a
    // second while behind; a tail more than skipAfter behind (a stream
    // written faster than a person can read) jumps to the newest records
    // rather than replaying the backlog.
    const skipAfter = 10000;
    async function followLoop() {
      if (!st.following) return;
      let wait = 1000;
      try {
        let page = await read(false);
        if (page && page.millisBehind > skipAfter && !pkIn.value && !qIn.value) {
          page = await read(true, "LATEST");
          st.skipped = (st.skipped || 0) + 1;
        }
        if (page && (!page.caughtUp || page.more)) wait = 500;
        if (page && !page.cursor) { stopFollow(); return; }
      } catch (e) {
        if (e.status === 429) wait = (e.retryAfter || 1) * 1000;
        else { toast("Live tail stopped: " + errText(e), true); stopFollow(); return; }
      }
      if (st.following) st.timer = setTimeout(followLoop, wait);
    }
    function stopFollow() {
      st.following = false;
      clearTimeout(st.timer);
      followBtn.classList.remove("on");
      followBtn.textContent = "● Follow live";
      nextBtn.disabled = !st.cursor;
      renderStatus();
    }
    readBtn.addEventListener("click", async () => {
      stopFollow();
      st.gen++;
      try { await read(true); } catch (e) { set(status, h("span.err", errText(e))); }
    });
    nextBtn.addEventListener("click", async () => { try { await read(false); } catch (e) { set(status, h("span.err", errText(e))); } });
    followBtn.addEventListener("click", async () => {
      if (st.following) { stopFollow(); return; }
      st.following = true;
      followBtn.classList.add("on");
      followBtn.textContent = "■ Stop following";
      nextBtn.disabled = true;
      st.gen++;
      try {
        // Follow from the chosen position, or from now if nothing was read.
        if (!st.cursor) {
          if (!st.last) posSel.value = posSel.value || "LATEST";
          await read(true);
        }
      } catch (e) { toast(errText(e), true); stopFollow(); return; }
      renderStatus();
      followLoop();
    });

    function renderRecords() {
      const box = $("#records", list);
      if (!box) return;
      if (st.records.length === 0) {
        set(box, h("div.empty", { "data-test": "viewer-empty" }, h("b", st.last ? "No records here" : "No records read yet"),
          st.last ? (st.following ? "Waiting for new records…" : "Nothing at this position. Try Oldest, or follow live.") : "Records of every shard appear here, newest last; KPL aggregates are shown as their user records."));
        return;
      }
      const recs = st.following ? st.records.slice().reverse() : st.records;
      const rows = [];
      for (const r of recs) {
        const key = r.shard + "/" + r.seq + "/" + (r.sub || 0);
        const bytes = b64bytes(r.data);
        const tr = h("tr.rec", { class: "rec" + (r.fresh ? " fresh" : ""), "data-key": key, "data-pk": r.pk, onclick: () => { if (st.open.has(key)) st.open.delete(key); else st.open.add(key); renderRecords(); } },
          h("td", fmt.clock(r.arrival)),
          h("td.mono", fmt.shard(r.shard)),
          h("td.mono", { title: r.pk }, r.pk.length > 28 ? r.pk.slice(0, 27) + "…" : r.pk),
          h("td.mono", { title: r.seq }, fmt.shortSeq(r.seq), r.aggregated ? h("span.badge.info.plain", { title: "a user record of a KPL aggregate" }, " KPL #" + r.sub) : null),
          h("td.num", fmt.bytes(r.size)),
          h("td.payload", h("div.pv", { "data-test": "payload" }, preview(bytes, st.format, r.truncated))));
        r.fresh = false;
        rows.push(tr);
        if (st.open.has(key)) {
          rows.push(h("tr.detail", h("td", { colspan: 6 },
            h("div.grid2",
              h("dl.kv",
                h("dt", "Sequence number"), h("dd.mono", r.seq),
                r.aggregated ? [h("dt", "Sub-sequence"), h("dd", String(r.sub))] : null,
                h("dt", "Partition key"), h("dd.mono", r.pk),
                r.hashKey ? [h("dt", "Explicit hash key"), h("dd.mono", r.hashKey)] : null,
                h("dt", "Shard"), h("dd.mono", r.shard),
                h("dt", "Arrived"), h("dd", new Date(r.arrival).toISOString()),
                h("dt", "Size"), h("dd", fmt.int(r.size) + " bytes" + (r.truncated ? " (first 16 KiB shown)" : "")),
                h("dt", "Encryption"), h("dd", r.encrypted ? "KMS" : "none")),
              h("div", full(bytes, st.format))))));
        }
      }
      set(box, h("div.table-wrap", h("table.t.records#records-table",
        h("thead", h("tr", h("th", "Arrival"), h("th", "Shard"), h("th", "Partition key"), h("th", "Sequence"), h("th.num", "Size"), h("th", "Data"))),
        h("tbody", rows))));
    }
    return { destroy() { stopFollow(); st.gen++; } };
  }

  // ---------- Payload formats ----------
  function b64bytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  function asText(bytes) { try { return utf8.decode(bytes); } catch (e) { return null; } }
  function printable(t) { return t !== null && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(t); }
  function hex(bytes, max) {
    let out = "";
    const n = Math.min(bytes.length, max || bytes.length);
    for (let i = 0; i < n; i++) out += bytes[i].toString(16).padStart(2, "0") + (i % 16 === 15 ? "\n" : " ");
    return out.trim() + (n < bytes.length ? " …" : "");
  }
  function b64(bytes) { let s = ""; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }
  function detect(bytes, format) {
    if (format !== "auto") return format;
    const t = asText(bytes);
    if (!printable(t)) return "hex";
    const tt = t.trim();
    if ((tt.startsWith("{") || tt.startsWith("[")) && tryJSON(tt) !== undefined) return "json";
    return "text";
  }
  function tryJSON(t) { try { return JSON.parse(t); } catch (e) { return undefined; } }
  function preview(bytes, format, truncated) {
    const f = detect(bytes, format);
    let out;
    if (f === "json") { const v = tryJSON(asText(bytes) || ""); out = v === undefined ? (asText(bytes) || "(not UTF-8)") : JSON.stringify(v); }
    else if (f === "text") out = asText(bytes) || "(not UTF-8: " + hex(bytes, 24) + ")";
    else if (f === "hex") out = hex(bytes, 48).replace(/\n/g, " ");
    else out = b64(bytes.subarray(0, 96));
    return (out.length > 300 ? out.slice(0, 300) + "…" : out) + (truncated ? " …" : "");
  }
  function full(bytes, format) {
    const f = detect(bytes, format);
    if (f === "json") {
      const v = tryJSON(asText(bytes) || "");
      if (v !== undefined) return h("pre", { "data-test": "payload-full" }, highlightJSON(v, 0));
    }
    if (f === "text" || f === "json") return h("pre", { "data-test": "payload-full" }, asText(bytes) || "(not UTF-8)");
    if (f === "hex") return h("pre", { "data-test": "payload-full" }, hex(bytes));
    return h("pre", { "data-test": "payload-full" }, b64(bytes));
  }
  // highlightJSON renders a value as indented JSON in coloured spans.
  function highlightJSON(v, depth) {
    const ind = "  ".repeat(depth + 1), end = "  ".repeat(depth);
    if (v === null || typeof v === "boolean") return h("span.json-lit", String(v));
    if (typeof v === "number") return h("span.json-num", String(v));
    if (typeof v === "string") return h("span.json-str", JSON.stringify(v));
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const parts = ["[\n"];
      v.forEach((x, i) => parts.push(ind, highlightJSON(x, depth + 1), i < v.length - 1 ? ",\n" : "\n"));
      parts.push(end + "]");
      return h("span", parts);
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    const parts = ["{\n"];
    keys.forEach((k, i) => parts.push(ind, h("span.json-key", JSON.stringify(k)), ": ", highlightJSON(v[k], depth + 1), i < keys.length - 1 ? ",\n" : "\n"));
    parts.push(end + "}");
    return h("span", parts);
  }

  // Consumers of a stream: fan-out consumers and applications.
  function consumersTab(body, onDesc) {
    const efo = h("div.card.flush", h("h2", "Enhanced fan-out consumers"), h("div#efo"));
    const apps = h("div.card", h("h2", "Applications reading this stream"), h("div#stream-apps"));
    body.append(efo, apps);
    onDesc((d) => {
      set($("#efo"), d.consumers.length === 0
        ? h("div.empty", h("b", "No fan-out consumers"), "Register one with RegisterStreamConsumer; each gets its own 2 MiB/s per shard over SubscribeToShard.")
        : h("table.t", h("thead", h("tr", h("th", "Name"), h("th", "Status"), h("th.num", "Open subscriptions"), h("th.num", "Records/s"), h("th", "Registered"), h("th", "ARN"))),
          h("tbody", d.consumers.map((c) => h("tr", h("td.name", c.name), h("td", statusBadge(c.status)), h("td.num", c.subscriptions), h("td.num", fmt.num(c.recordsPerSecond)), h("td", fmt.ago(c.createdAt)), h("td.mono.dim", c.arn))))));
      set($("#stream-apps"), d.applications.length === 0
        ? h("p.hint", "No consumer group or pipeline found reading it. Groups appear once their lease table is on this server (KCL, the consumer package, sluice tail --group).")
        : h("div", d.applications.map((a) => h("a.tag", { href: "/console/applications#" + encodeURIComponent(a.name), "data-link": true }, (a.kind === "pipeline" ? "pipeline " : "group ") + a.name))));
    });
    return {};
  }

  // Configuration: settings and tags.
  function configTab(body, name, onDesc, after) {
    const settings = h("div.card", h("h2", "Settings"), h("div#settings"));
    const tags = h("div.card", h("div.card-head", h("h2", "Tags"), h("button.btn.small", { onclick: () => addTag() }, "+ Add tag")), h("div#tags"));
    body.append(h("div.grid2", settings, tags));
    onDesc((d) => {
      set($("#settings"), h("dl.kv",
        h("dt", "Status"), h("dd", statusBadge(d.status)),
        h("dt", "Capacity mode"), h("dd", d.mode),
        h("dt", "Open shards"), h("dd", String(d.openShards)),
        h("dt", "Retention"), h("dd", fmt.hours(d.retentionHours)),
        h("dt", "Encryption"), h("dd", d.encryption + (d.keyId ? " · " + d.keyId : "")),
        h("dt", "Largest record"), h("dd", fmt.bytes(d.maxRecordSizeKiB * 1024)),
        h("dt", "Shard-level metrics"), h("dd", d.shardLevelMetrics.length ? d.shardLevelMetrics.join(", ") : "none"),
        d.warmThroughputMiBps ? [h("dt", "Warm throughput"), h("dd", d.warmThroughputMiBps + " MiB/s")] : null,
        h("dt", "Stream id"), h("dd.mono", d.id),
        h("dt", "ARN"), h("dd.mono", d.arn),
        h("dt", "Created"), h("dd", new Date(d.createdAt).toISOString())));
      const keys = Object.keys(d.tags).sort();
      set($("#tags"), keys.length === 0 ? h("p.hint", "No tags.") : h("table.t", h("tbody", keys.map((k) => h("tr",
        h("td.mono", k), h("td", d.tags[k]),
        h("td.num", h("button.btn.small.danger", { onclick: () => removeTag(k) }, "Remove")))))));
    });
    function addTag() {
      dialog({
        title: "Add a tag", confirm: "Add",
        fields: [{ name: "key", label: "Key" }, { name: "value", label: "Value" }],
        async onSubmit(v) { await post(`streams/${encodeURIComponent(name)}/tags`, { add: { [v.key]: v.value } }); after(`Tag ${v.key} added.`); },
      });
    }
    function removeTag(k) {
      dialog({
        title: `Remove the tag ${k}?`, confirm: "Remove", danger: true, fields: [],
        async onSubmit() { await post(`streams/${encodeURIComponent(name)}/tags`, { remove: [k] }); after(`Tag ${k} removed.`); },
      });
    }
    return {};
  }

  // ---------- Applications ----------
  function appsPage() {
    crumbs("Applications");
    content.append(h("div.page-head", h("div", h("h1", "Applications"),
      h("div.sub", "Consumer groups found in lease tables, flow pipelines and enhanced fan-out consumers, with how far behind each shard is."))),
    h("div.stats#apps-stats"), h("div#apps-list"), h("div#apps-efo"));
    poll(async () => {
      let d;
      try { d = await api("apps"); } catch (e) { set($("#apps-list"), h("div.banner", errText(e))); return; }
      const apps = d.applications;
      const count = (st) => apps.filter((a) => a.state === st).length;
      set($("#apps-stats"), 
        stat("Applications", String(apps.length), "", apps.filter((a) => a.kind === "pipeline").length + " pipelines"),
        stat("Lagging", String(count("lagging")), "", "behind by more than " + fmt.ms(d.thresholds.lagMillis)),
        stat("Stalled", String(count("stalled")), "", "no heartbeat for " + fmt.ms(d.thresholds.stallAfterMillis)),
        stat("Fan-out consumers", String(d.consumers.length), "", d.consumers.reduce((n, c) => n + c.subscriptions, 0) + " open subscriptions"));
      const list = $("#apps-list");
      set(list, 
        d.errors && d.errors.length ? h("div.banner", d.errors.join("; ")) : null,
        apps.length === 0 ? h("div.card", h("div.empty", { "data-test": "no-apps" }, h("b", "No consumer groups yet"),
          h("p", "A group appears when its lease table lives on this server: point the KCL's DynamoDB client here, or run"),
          h("p", h("code", `sluice tail --group my-app --endpoint ${location.origin} STREAM`)))) : null,
        apps.map(appCard));
      if (location.hash && !list.dataset.scrolled) {
        const el = document.getElementById("app-" + decodeURIComponent(location.hash.slice(1)));
        if (el) { el.scrollIntoView(); list.dataset.scrolled = "1"; }
      }
      set($("#apps-efo"), h("div.card.flush", h("h2", "Enhanced fan-out consumers"), d.consumers.length === 0 ? h("div.empty", "None registered.") :
        h("table.t", h("thead", h("tr", h("th", "Consumer"), h("th", "Stream"), h("th", "Status"), h("th.num", "Subscriptions"), h("th.num", "Records/s"), h("th", "Registered"))),
          h("tbody", d.consumers.map((c) => h("tr", h("td.name", c.name), h("td", h("a", { href: "/console/streams/" + encodeURIComponent(c.stream), "data-link": true }, c.stream)),
            h("td", statusBadge(c.status)), h("td.num", c.subscriptions), h("td.num", fmt.num(c.recordsPerSecond)), h("td", fmt.ago(c.createdAt))))))));
    }, 5000);
    return {};
  }

  function appCard(a) {
    const streamLinks = a.streams.length ? a.streams.map((sn) => h("a", { href: "/console/streams/" + encodeURIComponent(sn), "data-link": true }, sn)) : [h("span.dim", a.ambiguous ? "stream unclear (several match)" : "stream unknown")];
    const sep = (arr) => arr.flatMap((x, i) => (i ? [", ", x] : [x]));
    const rows = a.shards.map((l) => h("tr", { class: l.state === "stalled" ? "row-bad" : l.state === "lagging" || l.state === "unowned" ? "row-warn" : l.state === "finished" ? "row-closed" : "", "data-shard": l.shard },
      h("td.mono", l.shard),
      h("td", l.owner || h("span.dim", "none")),
      h("td.mono", { title: l.checkpoint }, fmt.shortSeq(l.checkpoint), l.subSequence ? h("span.dim", "/" + l.subSequence) : null),
      h("td.num", { "data-test": "lag-records" }, l.lagRecords === undefined ? h("span.dim", "–") : (l.lagExact ? "" : "≈ ") + fmt.int(l.lagRecords)),
      h("td.num", { "data-test": "lag-millis" }, l.lagMillis === undefined ? h("span.dim", "–") : fmt.ms(l.lagMillis)),
      h("td", l.heartbeatAgeMillis === undefined ? h("span.dim", l.owner ? "watching…" : "–") : fmt.ms(l.heartbeatAgeMillis) + " ago"),
      h("td", statusBadge(l.state), l.reason ? h("div.reason", l.reason) : null)));
    const workers = a.kind === "pipeline" && a.workers.length ? h("table.t", h("thead", h("tr", h("th", "Worker"), h("th.num", "Leases"), h("th", "Heartbeat"), h("th.num", "Records/s"), h("th.num", "Lag"), h("th", "Last window end"))),
      h("tbody", a.workers.map((w) => h("tr", { class: w.stale ? "row-bad" : "" }, h("td.mono", w.id), h("td.num", w.leases),
        h("td", w.heartbeatAgeMillis === undefined ? "–" : fmt.ms(w.heartbeatAgeMillis) + " ago"), h("td.num", w.recordsPerSecond === undefined ? "–" : fmt.num(w.recordsPerSecond)),
        h("td.num", w.lagMillis === undefined ? "–" : fmt.ms(w.lagMillis)), h("td", w.lastWindowEndMillis ? fmt.time(w.lastWindowEndMillis) : "–"))))) : null;
    return h("div.card.app-card", { id: "app-" + a.name, "data-app": a.name, "data-state": a.state },
      h("div.card-head",
        h("div", h("h2", a.name, " ", h("span.badge.plain", a.kind === "pipeline" ? "pipeline" : "lease table"), " ", statusBadge(a.state)),
          h("div.meta",
            h("span", "reads ", sep(streamLinks)),
            a.outputs.length ? h("span", "writes ", sep(a.outputs.map((sn) => h("a", { href: "/console/streams/" + encodeURIComponent(sn), "data-link": true }, sn)))) : null,
            a.sinks.length ? h("span", "sinks ", a.sinks.join(", ")) : null,
            h("span", h("b", String(a.workers.length)), a.workers.length === 1 ? " worker" : " workers"),
            h("span", h("b", { "data-test": "app-lag-records" }, (a.lagExact ? "" : "≈ ") + fmt.int(a.lagRecords)), " records behind"),
            h("span", h("b", { "data-test": "app-lag-millis" }, fmt.ms(a.lagMillis)), " behind"),
            a.recordsPerSecond ? h("span", h("b", fmt.num(a.recordsPerSecond)), " records/s") : null)),
        a.reason ? h("div.reason", a.reason) : null),
      workers,
      rows.length ? h("div.table-wrap", h("table.t", h("thead", h("tr", h("th", "Shard"), h("th", "Owner"), h("th", "Checkpoint"), h("th.num", "Records behind"), h("th.num", "Time behind"), h("th", "Heartbeat"), h("th", "State"))), h("tbody", rows))) : null);
  }

  // ---------- Graph ----------
  function graphPage() {
    crumbs("Graph");
    const box = h("div#graph");
    content.append(h("div.page-head", h("div", h("h1", "Processing graph"),
      h("div.sub", "Streams and the applications, pipelines and fan-out consumers between them; edges show records per second where the server knows them."))),
    h("div.legend", h("span", h("i", { class: "lg-stream" }), "stream"), h("span", h("i", { class: "lg-app" }), "consumer group / pipeline"), h("span", h("i", { class: "lg-efo" }), "fan-out consumer"), h("span", h("i", { class: "lg-sink" }), "sink")),
    h("div.card", box));
    document.querySelectorAll(".legend i").forEach((i) => {
      const c = { "lg-stream": "--accent", "lg-app": "--c4", "lg-efo": "--c6", "lg-sink": "--c3" }[i.className];
      i.style.borderColor = cssVar(c);
    });
    let lastKey = "";
    poll(async () => {
      let d;
      try { d = await api("graph"); } catch (e) { set(box, h("div.banner", errText(e))); return; }
      const key = JSON.stringify(d);
      if (key === lastKey) return;
      lastKey = key;
      if (d.nodes.length === 0) { set(box, h("div.empty", h("b", "Nothing to draw yet"), "Create a stream and start a consumer or a pipeline.")); return; }
      const maxRate = Math.max(1, ...d.edges.map((e) => e.rate));
      const kinds = { stream: "stream", leases: "consumer group", pipeline: "pipeline", consumer: "fan-out", sink: "sink" };
      const nodes = d.nodes.map((n) => ({
        id: n.id, w: 210, h: 62,
        draw(g) {
          const bad = n.state === "stalled" || n.state === "MISSING" || n.state === "DELETING";
          const warn = n.state === "lagging" || n.state === "unowned" || n.state === "CREATING" || n.state === "UPDATING";
          g.setAttribute("class", `node ${n.kind}${bad ? " s-bad" : warn ? " s-warn" : ""}`);
          g.setAttribute("data-node", n.id);
          const inner = [s("rect", { width: 210, height: 62, rx: 10 }),
            s("text", { class: "kind", x: 12, y: 17 }, kinds[n.kind] || n.kind),
            s("text", { class: "title", x: 12, y: 35 }, n.label.length > 26 ? n.label.slice(0, 25) + "…" : n.label),
            s("text", { class: "sub", x: 12, y: 52 }, n.sub || "")];
          let href = null;
          if (n.kind === "stream" && n.state !== "MISSING") href = "/console/streams/" + encodeURIComponent(n.label);
          if (n.kind === "leases" || n.kind === "pipeline") href = "/console/applications#" + encodeURIComponent(n.label);
          if (href) {
            const a = s("a", { href }, inner);
            a.addEventListener("click", (ev) => { ev.preventDefault(); navigate(href); });
            g.appendChild(a);
          } else inner.forEach((x) => g.appendChild(x));
        },
      }));
      const edges = d.edges.map((e) => ({ from: e.from, to: e.to, label: e.label, live: e.rate > 0, width: e.rate > 0 ? 1.4 + 4 * Math.log1p(e.rate) / Math.log1p(maxRate) : 1.2 }));
      set(box, h("div.graph-wrap", { "data-test": "graph" }, drawGraph(nodes, edges, { rankdir: "LR", label: "processing graph" })));
    }, 5000);
    return {};
  }

  // ---------- Start ----------
  $("#theme-toggle").addEventListener("click", () => {
    const next = document.documentElement.getAttribute("data-theme") === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    try { localStorage.setItem("sluice-theme", next); } catch (e) { /* private mode */ }
    document.dispatchEvent(new Event("themechange"));
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) for (const p of pollers) p.now(); });
  refreshSide();
  render();
})();
