// scangate live dashboard: renders the snapshots the gateway sends over
// server-sent events (/live/events, one `snapshot` and one `conflicts`
// event per second).
// Plain DOM, no dependencies; every value is set with textContent, never
// parsed as HTML (gate and event names come from scanners and operators).
"use strict";

(function () {
  const STALE_AFTER_MS = 5000; // no snapshot for this long: the view is stale
  const DENIALS_SHOWN = 20;
  const FLAGS_POLL_MS = 2000; // the flags panel is read this often (it is small)
  const $ = (id) => document.getElementById(id);
  let lastAt = 0;

  const fmtInt = (n) => Number(n).toLocaleString("en-US");
  const fmtRate = (n) => (n >= 100 ? Math.round(n).toString() : n.toFixed(1));
  const fmtMs = (ms) =>
    ms == null ? "–" : ms < 10 ? ms.toFixed(2) + " ms" : ms < 1000 ? ms.toFixed(0) + " ms" : (ms / 1000).toFixed(1) + " s";
  const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  // Conflicts are read back from the store and may be days old: date and time.
  const fmtStamp = (ms) => new Date(ms).toLocaleString([], {
    hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const fmtAge = (s) => (s < 120 ? s + " s" : s < 7200 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h");
  const GIB = 1024 * 1024 * 1024;
  const fmtBytes = (b) => (b >= 10 * GIB ? Math.round(b / GIB) + " GiB" : (b / GIB).toFixed(1) + " GiB");
  // The alert rule of docs/operations.md: under 2 GiB, or under a tenth, is low.
  const diskLow = (d) => d.available_bytes < Math.max(2 * GIB, d.size_bytes / 10);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function row(cells, attrs) {
    const tr = document.createElement("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", text, cls));
    for (const k in attrs || {}) tr.setAttribute(k, attrs[k]);
    return tr;
  }

  function fill(tbody, rows, emptyText, cols) {
    const empty = row([[emptyText]]);
    empty.className = "empty";
    empty.firstChild.colSpan = cols;
    tbody.replaceChildren(...(rows.length ? rows : [empty]));
  }

  function bar(fraction, cls) {
    const b = el("div", undefined, cls ? "bar " + cls : "bar");
    const s = document.createElement("span");
    s.style.width = Math.max(0, Math.min(100, fraction * 100)).toFixed(1) + "%";
    b.appendChild(s);
    return b;
  }

  function renderSeries(series) {
    const max = Math.max(1, ...series);
    const step = 600 / Math.max(1, series.length - 1);
    const pts = series.map((v, i) => (i * step).toFixed(1) + "," + (98 - (v / max) * 94).toFixed(1));
    $("series-line").setAttribute("points", pts.join(" "));
    $("series-max").textContent = "peak " + fmtInt(max) + "/s";
  }

  function render(s) {
    lastAt = Date.now();
    setStatus("live", "live");
    $("updated").textContent = "updated " + fmtTime(s.at_ms);
    $("uptime").textContent = fmtAge(s.uptime_s);
    $("window-label").textContent = "last " + s.window_s + " s";
    $("scans-per-s").textContent = fmtRate(s.scans_per_s);
    $("total-scans").textContent = fmtInt(s.scans);
    $("total-granted").textContent = fmtInt(s.granted);
    $("total-denied").textContent = fmtInt(s.denied);
    $("p50").textContent = fmtMs(s.latency_ms.p50);
    $("p99").textContent = fmtMs(s.latency_ms.p99);
    $("scanners").textContent = fmtInt(s.scanners);
    renderSeries(s.series);

    const w = s.warnings;
    const h = s.health || {};
    const msgs = [];
    if (h.store_failure) msgs.push("the store failed, so no scan is granted: " + h.store_failure);
    if (h.disk && diskLow(h.disk)) msgs.push("the data dir's disk is nearly full: " + fmtBytes(h.disk.available_bytes) + " left of " + fmtBytes(h.disk.size_bytes));
    $("disk").textContent = h.disk ? fmtBytes(h.disk.available_bytes) + " free of " + fmtBytes(h.disk.size_bytes) : "–";
    if (w.busy > 0) msgs.push(fmtInt(w.busy) + " scans answered busy in the last " + s.window_s + " s: the gateway is overloaded");
    if (w.rate_limited > 0) msgs.push(fmtInt(w.rate_limited) + " scans rate-limited in the last " + s.window_s + " s: a scanner is sending too fast");
    $("warnings").hidden = msgs.length === 0;
    $("warnings").textContent = msgs.join(" · ");

    fill($("gates"), s.gates.map((g) =>
      row([[g.gate], [fmtRate(g.scans_per_s), "num"], [fmtInt(g.granted), "num"], [fmtInt(g.denied), "num"],
        [fmtMs(g.p99_ms), "num"]],
        { "data-gate": g.gate })), "no scans yet", 5);

    const reasons = s.reasons.filter((r) => r.count > 0).sort((a, b) => b.count - a.count);
    const top = reasons.length ? reasons[0].count : 1;
    const items = reasons.map((r) => {
      const li = el("li");
      li.setAttribute("data-reason", r.reason);
      li.append(el("span", r.reason, "name"), bar(r.count / top), el("span", fmtInt(r.count), "count"));
      return li;
    });
    $("reasons").replaceChildren(...(items.length ? items : [el("li", "no denials yet", "empty")]));

    fill($("events"), s.events.map((e) => {
      const cap = fmtInt(e.capacity) + (e.unlimited ? " + " + fmtInt(e.unlimited) + " unlimited" : "");
      const tr = row([[e.event], [fmtInt(e.grants), "num"], [cap, "num"]], { "data-event": e.event });
      const td = document.createElement("td");
      td.appendChild(bar(e.capacity ? e.grants / e.capacity : 0, "fill"));
      tr.appendChild(td);
      return tr;
    }), "no passes issued since start", 4);
    $("unattributed").hidden = !s.grants_unattributed;
    $("unattributed").textContent = fmtInt(s.grants_unattributed) +
      " uses of passes issued before this start (not in the table)";

    fill($("denials"), s.recent_denials.slice(0, DENIALS_SHOWN).map((d) =>
      row([[fmtTime(d.at_ms)], [d.gate], [d.reason, "reason"], [d.pass || "–", "pass"]])),
      "no denials yet", 4);
  }

  // The conflicts panel (SSE event `conflicts`): every kind with its count,
  // "N+" while the first count since the gateway's start is still reading.
  function renderConflicts(c) {
    const plus = c.complete ? "" : "+";
    $("conflict-counts").replaceChildren(...c.kinds.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = k.kind;
      if (!k.count) tr.className = "zero";
      const label = el("th", k.label);
      label.scope = "row";
      tr.append(label, el("td", fmtInt(k.count) + plus, "num count"));
      return tr;
    }));
    const note = c.complete
      ? fmtInt(c.total) + " in all, counted " + fmtTime(c.counted_at_ms)
      : "counting… " + fmtInt(c.total) + " read so far";
    $("conflicts-note").textContent = c.error ? note + " · " + c.error : note;
    fill($("conflicts"), c.latest.map((x) =>
      row([[fmtStamp(x.at_ms)], [x.label], [x.gate], [x.device], [fmtStamp(x.device_time_ms)], [x.pass || "–", "pass"]],
        { "data-kind": x.kind })),
      c.complete ? "no conflicts" : "counting…", 6);
  }

  // The fraud flags panel (polled from /live/flags): every flag with its
  // count since start, and the latest raised.
  function renderFlags(f) {
    $("flag-counts").replaceChildren(...f.kinds.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = k.kind;
      if (!k.count) tr.className = "zero";
      const label = el("th", k.label);
      label.scope = "row";
      tr.append(label, el("td", fmtInt(k.count), "num count"));
      return tr;
    }));
    fill($("flags"), f.latest.map((x) =>
      row([[fmtTime(x.at_ms)], [x.label], [x.gate], [x.device], [x.pass || "–", "pass"]],
        { "data-kind": x.kind })),
      "no flags raised", 5);
  }

  // The occupancy panel (polled from /live/occupancy): every zone of every
  // defined event, inside now against its capacity; a full zone is marked.
  function renderZones(z) {
    const rows = [];
    for (const e of z.events) {
      for (const x of e.zones) {
        const cap = x.capacity === undefined ? "–" : fmtInt(x.capacity);
        const free = x.free === undefined ? "–" : fmtInt(x.free);
        const zone = x.parent ? x.zone + " (in " + x.parent + ")" : x.zone;
        const tr = row([[e.event], [zone], [fmtInt(x.inside), "num inside"], [cap, "num"], [free, "num free"]],
          { "data-zone": e.event + "/" + x.zone });
        if (x.free === 0) tr.classList.add("full");
        rows.push(tr);
      }
    }
    fill($("zones"), rows, "no event defines zones", 5);
    $("zones-more").textContent = z.more ? "and " + fmtInt(z.more) + " more events" : "";
  }

  function pollZones() {
    fetch("/live/occupancy", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(renderZones)
      .catch(() => {});
  }

  function pollFlags() {
    fetch("/live/flags", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(renderFlags)
      .catch(() => {});
  }

  function setStatus(state, text) {
    const p = $("status");
    p.dataset.state = state;
    p.textContent = text;
  }

  function connect() {
    const source = new EventSource("/live/events");
    source.addEventListener("snapshot", (ev) => {
      try {
        render(JSON.parse(ev.data));
      } catch (e) {
        setStatus("disconnected", "bad data");
      }
    });
    source.addEventListener("conflicts", (ev) => {
      try {
        renderConflicts(JSON.parse(ev.data));
      } catch (e) {
        setStatus("disconnected", "bad data");
      }
    });
    // EventSource reconnects by itself (the server asks for 2 s).
    source.onerror = () => setStatus("disconnected", "reconnecting…");
  }

  setInterval(() => {
    if (lastAt && Date.now() - lastAt > STALE_AFTER_MS) setStatus("stale", "stale");
  }, 1000);
  connect();
  pollFlags();
  setInterval(pollFlags, FLAGS_POLL_MS);
  pollZones();
  setInterval(pollZones, FLAGS_POLL_MS);
})();
