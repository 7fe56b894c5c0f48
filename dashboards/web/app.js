// Fleetproof posture page: asks the collector's API for the posture report
// with the token the user typed, and renders the per-check summary and the
// per-device table. No framework and no build step, so the collector can
// serve this file as it is.
//
// Every value from the API is written with textContent, never as HTML:
// hostnames, reasons and row details come from devices, and a device must
// not be able to script the security team's browser.
"use strict";

(function () {
  const api = document.querySelector('meta[name="fleetproof-api"]').content.replace(/\/$/, "");
  const $ = (id) => document.getElementById(id);
  // sessionStorage, not localStorage: the token goes away with the tab, so
  // a shared or borrowed browser does not keep it.
  const tokenKey = "fleetproof-token";
  let report = null;

  function setStatus(msg, isError) {
    $("status").textContent = msg;
    $("status").className = isError ? "error" : "";
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  // The API takes RFC 3339; datetime-local gives "YYYY-MM-DDTHH:MM[:SS]"
  // with no zone, which the page labels as UTC.
  function atParam() {
    const v = $("at").value;
    if (!v) return "";
    const withSeconds = v.length === 16 ? v + ":00" : v;
    return "?at=" + encodeURIComponent(withSeconds + "Z");
  }

  async function load() {
    const token = $("token").value.trim();
    if (!token) {
      setStatus("Enter an API token (fleetproof-collector token create).", true);
      return;
    }
    sessionStorage.setItem(tokenKey, token);
    setStatus("Loading…");
    let resp;
    try {
      resp = await fetch(api + "/posture" + atParam(), {
        headers: { Authorization: "Bearer " + token, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (err) {
      setStatus("The collector did not answer: " + err.message, true);
      return;
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (err) {
      body = null;
    }
    if (!resp.ok) {
      const why = body && body.error ? body.error : resp.statusText;
      setStatus(resp.status + ": " + why, true);
      if (resp.status === 401) sessionStorage.removeItem(tokenKey);
      return;
    }
    report = body;
    setStatus("");
    render();
  }

  // Compliant share of the devices a check applies to: unknown (stale or
  // missing) and error count against it, as the API never counts them as
  // passing.
  function compliance(s) {
    const judged = s.devices - s.not_applicable;
    return judged > 0 ? ((100 * s.pass) / judged).toFixed(1) + " %" : "—";
  }

  function renderSummary() {
    const tbody = $("summary").tBodies[0];
    tbody.replaceChildren();
    for (const s of report.summary) {
      const tr = document.createElement("tr");
      cell(tr, s.check_id);
      cell(tr, s.title);
      for (const n of [s.devices, s.pass, s.fail, s.error, s.not_applicable, s.unknown]) cell(tr, n, "num");
      cell(tr, compliance(s), "num");
      tbody.appendChild(tr);
    }
  }

  function matches(e, text, status) {
    if (status === "not-pass" && (e.status === "pass" || e.status === "not_applicable")) return false;
    if (status && status !== "not-pass" && e.status !== status) return false;
    if (!text) return true;
    const hay = [e.check_id, e.title, e.device_id, e.hostname, e.os, e.reason, e.detail].join("\n").toLowerCase();
    return hay.includes(text);
  }

  function renderEntries() {
    if (!report) return;
    const tbody = $("entries").tBodies[0];
    tbody.replaceChildren();
    const text = $("filter").value.trim().toLowerCase();
    const status = $("status-filter").value;
    let shown = 0;
    for (const e of report.entries) {
      if (!matches(e, text, status)) continue;
      shown++;
      const tr = document.createElement("tr");
      cell(tr, e.check_id).title = e.title || "";
      cell(tr, e.device_id);
      cell(tr, e.hostname);
      cell(tr, e.os);
      cell(tr, e.status + (e.stale ? " (stale)" : ""), "st st-" + e.status);
      cell(tr, e.observed_at ? e.observed_at.replace("T", " ").replace("Z", " UTC") : "", e.stale ? "stale" : "");
      cell(tr, e.reason);
      cell(tr, e.detail, "detail");
      tbody.appendChild(tr);
    }
    $("count").textContent = shown + " of " + report.entries.length + " shown";
  }

  function render() {
    if (!report) return;
    $("report").hidden = false;
    $("as-of").textContent = "as of " + report.at.replace("T", " ").replace("Z", " UTC");
    renderSummary();
    renderEntries();
  }

  $("query").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(tokenKey);
    $("token").value = "";
    report = null;
    $("report").hidden = true;
    setStatus("Token forgotten.");
  });
  $("filter").addEventListener("input", renderEntries);
  $("status-filter").addEventListener("change", renderEntries);

  const saved = sessionStorage.getItem(tokenKey);
  if (saved) {
    $("token").value = saved;
    load();
  }
})();
