// Live regions of the engine's operator pages. Served by the engine itself: the pages'
// Content-Security-Policy allows scripts, fetches and websockets from the engine only, and
// no inline code, so everything a page does live is declared in its HTML:
//
//   data-live-src="/path"          re-fetch this HTML fragment (rendered and escaped by the
//   data-live-interval-ms="2000"   engine) on a timer and swap it in when it changed;
//   data-live-ws="/ws/..."         ...and as soon as this websocket pushes anything;
//   data-live-rows="/ws"           on a <tbody>: each pushed JSON object (of data-live-type)
//   data-live-type="..."           becomes the first row, one cell per data-live-columns
//   data-live-columns="[...]"      entry, written with textContent only (never parsed as HTML);
//   data-live-count-of="tbody-id"  text set to data-live-count-label + the tbody's row count;
//   data-live-status               shows whether the page is still live.
"use strict";
(() => {
  const MIN_GAP_MS = 200; // pushes arriving faster than this share one fetch
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const problems = new Map(); // what is wrong, by source

  const utcTime = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");

  function showStatus() {
    const text = problems.size ? [...problems.values()].join("; ") : "live, last update " + utcTime(Date.now()) + " UTC";
    for (const element of document.querySelectorAll("[data-live-status]")) {
      element.textContent = text;
      element.classList.toggle("bad", problems.size > 0);
    }
  }

  function report(source, problem) {
    if (problem) problems.set(source, problem);
    else problems.delete(source);
    showStatus();
  }

  function socketUrl(path) {
    const url = new URL(path, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  // A websocket that reconnects itself with a capped backoff; onMessage gets each text frame.
  function openSocket(path, onMessage, source) {
    let delayMs = BACKOFF_FIRST_MS;
    const connect = () => {
      let socket;
      try {
        socket = new WebSocket(socketUrl(path));
      } catch (error) {
        report(source, "push refused (" + error.message + ")");
        return;
      }
      socket.onopen = () => {
        delayMs = BACKOFF_FIRST_MS;
        report(source, null);
      };
      socket.onmessage = (event) => onMessage(event.data);
      socket.onclose = () => {
        report(source, "push disconnected, reconnecting");
        setTimeout(connect, delayMs);
        delayMs = Math.min(delayMs * 2, BACKOFF_MAX_MS);
      };
    };
    connect();
  }

  function liveRegion(element, index) {
    const source = "region " + (element.id || index);
    const everyMs = Number(element.dataset.liveIntervalMs) || 2000;
    let shown = null;
    let busy = false;
    let again = false;
    let timer = null;
    let fetches = 0;
    let swaps = 0;
    const refresh = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        const response = await fetch(element.dataset.liveSrc, { cache: "no-store", headers: { Accept: "text/html" } });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const text = await response.text();
        if (text !== shown) {
          element.innerHTML = text; // the engine's own fragment, every data-derived string escaped there
          shown = text;
          element.dataset.liveSwaps = String(++swaps);
        }
        element.dataset.liveFetches = String(++fetches);
        report(source, null);
      } catch (error) {
        report(source, "cannot reach the engine (" + error.message + "), retrying");
      } finally {
        busy = false;
        if (again) {
          again = false;
          soon();
        }
      }
    };
    const soon = () => {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          refresh();
        }, MIN_GAP_MS);
      }
    };
    setInterval(refresh, everyMs);
    if (element.dataset.liveWs) openSocket(element.dataset.liveWs, soon, source + " push");
  }

  function number(value, digits) {
    return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function compact(value) {
    for (const [scale, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
      if (Math.abs(value) >= scale) return number(value / scale, 2) + unit;
    }
    return number(value, 2);
  }

  // One cell's text: the same formats the engine renders the first rows with.
  function cellText(column, value) {
    const finite = typeof value === "number" && Number.isFinite(value);
    switch (column.format) {
      case "time":
        return finite ? utcTime(value) : String(value ?? "");
      case "number":
        return finite ? number(value, column.digits ?? 2) : value == null ? "-" : String(value);
      case "compact":
        return finite ? compact(value) : value == null ? "-" : String(value);
      case "pct":
        return finite ? (value >= 0 ? "+" : "") + value.toFixed(2) + "%" : String(value ?? "");
      case "range":
        return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")
          ? number(value[0], 0) + "-" + number(value[1], 0) + (column.suffix ?? "")
          : String(value ?? "");
      default:
        return String(value ?? "");
    }
  }

  function liveRows(tbody) {
    const columns = JSON.parse(tbody.dataset.liveColumns || "[]");
    const type = tbody.dataset.liveType || null;
    const maxRows = Number(tbody.dataset.liveMax) || 200;
    const counters = tbody.id ? document.querySelectorAll('[data-live-count-of="' + CSS.escape(tbody.id) + '"]') : [];
    let received = 0;
    openSocket(tbody.dataset.liveRows, (data) => {
      let item;
      try {
        item = JSON.parse(data);
      } catch (error) {
        return;
      }
      if (item === null || typeof item !== "object" || (type && item.type !== type)) return;
      const row = document.createElement("tr");
      row.className = "live-new";
      for (const column of columns) {
        const cell = document.createElement("td");
        const value = item[column.field];
        cell.textContent = cellText(column, value);
        if (column.class) cell.className = column.class;
        const extra = column.classes && typeof value === "string" ? column.classes[value] : undefined;
        if (typeof extra === "string") cell.classList.add(extra);
        row.appendChild(cell);
      }
      for (const placeholder of tbody.querySelectorAll("tr[data-live-placeholder]")) placeholder.remove();
      tbody.insertBefore(row, tbody.firstChild);
      while (tbody.rows.length > maxRows) tbody.deleteRow(-1);
      for (const counter of counters) counter.textContent = (counter.dataset.liveCountLabel || "") + tbody.rows.length;
      tbody.dataset.liveReceived = String(++received);
    }, "push " + tbody.dataset.liveRows);
  }

  document.querySelectorAll("[data-live-src]").forEach(liveRegion);
  document.querySelectorAll("tbody[data-live-rows]").forEach(liveRows);
})();
