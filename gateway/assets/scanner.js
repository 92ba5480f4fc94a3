// The guard scanner page (/scanner). It decodes QR codes from the camera in
// the page (the browser's BarcodeDetector where it has one, else the
// vendored jsQR), sends each presentation to the gateway (POST /v1/scan with
// this browser's device credential) and shows the verdict full screen.
//
// Enrollment: the operator's link is /scanner#enroll=SECRET&gate=G[&event=E];
// the secret travels in the fragment (never sent in a request line or a
// Referer), is redeemed once for a device credential, and is then removed
// from the address bar. The credential stays in this browser's localStorage.
"use strict";
(() => {
  /** Where this browser keeps its enrollment: {device, credential, gate, event}. */
  const STORE_KEY = "scangate.scanner";
  /** Decode at most 10 frames a second: enough for a code held up, light on a phone. */
  const FRAME_EVERY_MS = 100;
  /** A code out of view this long and shown again is a new presentation; held in view it is one scan. */
  const ABSENT_MS = 1000;
  /** How long a verdict stays on screen (a new presentation replaces it at once). */
  const VERDICT_MS = 4000;
  /** One scan request's deadline; then the gateway counts as unreachable (the gateway gives up on a scan after 4 s, WEB_SCAN_TIMEOUT_MS). */
  const REQUEST_TIMEOUT_MS = 5000;
  /** How often the offline indicator asks the gateway's /healthz. */
  const HEALTH_EVERY_MS = 5000;
  /** Frames are scaled down to this width before jsQR reads them. */
  const DECODE_MAX_WIDTH = 640;
  /** Longest text taken from a QR code: longer is not a scangate token (the gateway takes 64). */
  const CODE_MAX_CHARS = 256;

  const REASONS = {
    malformed: "Not a ticket code",
    forged: "Fake ticket",
    unknown: "Unknown ticket",
    revoked: "Ticket cancelled",
    suspended: "Ticket suspended",
    not_yet_valid: "Not valid yet",
    expired: "Ticket expired",
    used_up: "Used up: no entries left",
    wrong_event: "Ticket for another event",
    wrong_gate: "Not valid at this gate",
    rate_limited: "Too many scans: wait a moment",
    busy: "Gateway busy: scan again",
    needs_network: "Needs the network",
  };
  /** Reply fields shown in their own way, or not at all. */
  const SHOWN_APART = new Set(["scan_id", "decision", "reason", "uses", "max_uses", "pass",
    "replayed", "device", "display", "valid_until", "valid_until_ms", "card"]);
  /** A card share's fields, in the order and words a guard reads them; a reply carries only those the holder shared. */
  const CARD_FIELDS = [["name", "Name"], ["company", "Company"], ["title", "Title"],
    ["email", "Email"], ["phone", "Phone"], ["links", "Links"]];

  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const canvas = $("frame");
  const verdict = $("verdict");
  let detector = null;
  let last = { code: null, seenAt: 0 };
  let sending = false;
  let verdictTimer = null;

  const load = () => { try { return JSON.parse(localStorage.getItem(STORE_KEY)); } catch { return null; } };
  const save = (v) => localStorage.setItem(STORE_KEY, JSON.stringify(v));

  function problem(text) {
    $("problem").textContent = text;
    $("problem").hidden = !text;
  }

  function setOnline(online) {
    $("network").dataset.state = online ? "online" : "offline";
    $("network").textContent = online ? "online" : "OFFLINE: gateway unreachable";
  }

  async function fetchWithin(url, init) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try { return await fetch(url, { ...init, signal: abort.signal, cache: "no-store" }); }
    finally { clearTimeout(timer); }
  }

  async function enrollFromLink() {
    const params = new URLSearchParams(location.hash.slice(1));
    const secret = params.get("enroll");
    if (!secret) return;
    history.replaceState(null, "", location.pathname);
    const resp = await fetchWithin("/v1/scanner/enroll", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ enrollment: secret }),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      problem((body.error && body.error.message) || `enrollment failed (HTTP ${resp.status})`);
      return;
    }
    save({ device: body.device, credential: body.credential,
      gate: params.get("gate") || "main", event: params.get("event") || null });
  }

  async function startCamera() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      problem("The camera needs a secure page: open this page over https (ask the operator), or on 127.0.0.1.");
      return false;
    }
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      } catch { detector = null; }
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia(
        { video: { facingMode: "environment" }, audio: false });
      await video.play();
      return true;
    } catch (e) {
      problem(`No camera: ${e.message || e.name}. Allow camera access for this page and reload.`);
      return false;
    }
  }

  async function decodeFrame() {
    if (video.readyState < 2 || !video.videoWidth) return null;
    if (detector) {
      const codes = await detector.detect(video);
      return codes.length ? codes[0].rawValue : null;
    }
    const scale = Math.min(1, DECODE_MAX_WIDTH / video.videoWidth);
    const w = Math.round(video.videoWidth * scale);
    const h = Math.round(video.videoHeight * scale);
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, w, h);
    const found = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "attemptBoth" });
    return found ? found.data : null;
  }

  /** True when `code` seen at `now` is a new presentation, not the same one still held up. */
  function isNewPresentation(code, now) {
    const same = code === last.code && now - last.seenAt < ABSENT_MS;
    last = { code, seenAt: now };
    return !same;
  }

  function scanId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** One scan: retried once with the same scan id (safe) when the gateway does not answer. */
  async function send(token, me) {
    const body = JSON.stringify({ token, gate: me.gate, event: me.event, scan_id: scanId(),
      scanner_time_ms: Date.now() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const resp = await fetchWithin("/v1/scan", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${me.credential}` },
          body,
        });
        setOnline(true);
        return { status: resp.status, body: await resp.json().catch(() => ({})) };
      } catch { setOnline(false); }
    }
    return null;
  }

  function field(label, value) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    $("verdict-fields").append(dt, dd);
  }

  function when(value) {
    const d = typeof value === "number" ? new Date(value) : new Date(String(value));
    return isNaN(d) ? String(value) : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function fill(r) {
    $("verdict-fields").replaceChildren();
    $("verdict-display").textContent = typeof r.display === "string" ? r.display : "";
    if (r.uses != null) field("Entries", r.max_uses != null ? `${r.uses} of ${r.max_uses}` : `${r.uses} (no limit)`);
    const until = r.valid_until ?? r.valid_until_ms;
    if (until != null) field("Valid until", when(until));
    if (r.card && typeof r.card === "object") {
      for (const [key, label] of CARD_FIELDS) if (typeof r.card[key] === "string") field(label, r.card[key]);
    }
    for (const [key, value] of Object.entries(r)) {
      if (SHOWN_APART.has(key) || value == null) continue;
      const label = key.replaceAll("_", " ");
      if (typeof value === "object") {
        for (const [k, v] of Object.entries(value)) if (v != null && typeof v !== "object") field(k.replaceAll("_", " "), v);
      } else field(label, typeof value === "boolean" ? (value ? "yes" : "no") : value);
    }
  }

  function show(result) {
    const r = result ? result.body : null;
    let state, word, reason;
    if (r && r.decision === "granted") {
      [state, word, reason] = ["granted", "ENTER", "Valid ticket"];
    } else if (r && r.decision === "denied") {
      [state, word, reason] = ["denied", "STOP", REASONS[r.reason] || r.reason];
    } else {
      const message = r && r.error ? r.error.message : "Gateway unreachable: not checked, scan again";
      [state, word, reason] = ["unchecked", "NOT CHECKED", message];
    }
    verdict.dataset.state = state;
    verdict.dataset.reason = (r && r.reason) || (r && r.error && r.error.code) || "";
    $("verdict-word").textContent = word;
    $("verdict-reason").textContent = reason;
    fill(r && r.decision ? r : {});
    verdict.hidden = false;
    clearTimeout(verdictTimer);
    verdictTimer = setTimeout(() => { verdict.hidden = true; }, VERDICT_MS);
  }

  async function tick() {
    const me = load();
    try {
      const code = await decodeFrame();
      if (code && code.length <= CODE_MAX_CHARS && !sending && isNewPresentation(code.trim(), Date.now()) && me) {
        sending = true;
        try { show(await send(code.trim(), me)); } finally { sending = false; }
      } else if (code && sending && code.trim() === last.code) {
        last.seenAt = Date.now();
      }
    } catch (e) {
      problem(`Cannot read the camera: ${e.message || e}`);
    }
    setTimeout(tick, FRAME_EVERY_MS);
  }

  async function health() {
    try { setOnline((await fetchWithin("/healthz", {})).ok); } catch { setOnline(false); }
  }

  async function main() {
    try { await enrollFromLink(); } catch (e) { problem(`Enrollment failed: ${e.message || e}`); }
    const me = load();
    if (!me) {
      problem("This browser is not enrolled as a scanner: open the enrollment link the operator printed (scangate scanner enroll NAME).");
    } else {
      $("device").textContent = me.device;
      $("gate").textContent = me.gate;
    }
    setInterval(health, HEALTH_EVERY_MS);
    health();
    if (me && await startCamera()) tick();
  }

  main();
})();
