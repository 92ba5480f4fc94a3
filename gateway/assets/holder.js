// The holder page of a dynamic pass: shows how long the code on screen
// still works and fetches a fresh one from this gateway before it expires
// (GET <this page>/code). A static pass's code never changes: nothing runs.
"use strict";

(function () {
  const qr = document.getElementById("qr");
  const countdown = document.getElementById("countdown");
  if (!qr || qr.dataset.dynamic !== "true") return;

  // Fetch the next code this long before the current one expires (at most
  // a third of its life), and never more often than MIN_GAP_MS.
  const MARGIN_MS = 2000;
  const MIN_GAP_MS = 1000;
  const TICK_MS = 250;
  const RETRY_MS = 2000;

  let expiresAt = Number(qr.dataset.expiresAt);
  // Server time minus ours, so the countdown follows the gateway's clock.
  let skew = Number(qr.dataset.now) - Date.now();
  let margin = Math.min(MARGIN_MS, (expiresAt - Number(qr.dataset.now)) / 3);
  let fetching = false;
  let lastFetch = 0;

  function remaining() {
    return expiresAt - (Date.now() + skew);
  }

  async function refresh() {
    fetching = true;
    lastFetch = Date.now();
    try {
      const r = await fetch(window.location.pathname.replace(/\/$/, "") + "/code", {
        cache: "no-store",
        credentials: "omit",
      });
      if (!r.ok) throw new Error(String(r.status));
      const next = await r.json();
      qr.innerHTML = next.svg;
      expiresAt = next.expires_at_ms;
      skew = next.now_ms - Date.now();
      margin = Math.min(MARGIN_MS, (expiresAt - next.now_ms) / 3);
      qr.dataset.expiresAt = String(expiresAt);
      qr.dataset.generation = String(Number(qr.dataset.generation) + 1);
      qr.classList.remove("stale");
    } catch (e) {
      // Offline or refused: keep the code shown and try again shortly.
      lastFetch = Date.now() - MIN_GAP_MS + RETRY_MS;
    } finally {
      fetching = false;
    }
  }

  function tick() {
    const left = remaining();
    const s = Math.max(0, Math.ceil(left / 1000));
    countdown.hidden = false;
    countdown.textContent = left > 0 ? "New code in " + s + " s" : "Getting a new code…";
    if (!fetching && left <= margin && Date.now() - lastFetch >= MIN_GAP_MS) {
      refresh();
    }
  }

  tick();
  setInterval(tick, TICK_MS);
})();
