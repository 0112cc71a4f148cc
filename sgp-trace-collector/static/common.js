// The traces page, shared parts: DOM helpers, the page state, formats,
// and the data endpoints. The page loads common.js, list.js, span.js,
// trace.js, then app.js, as plain scripts sharing one scope.
"use strict";

const SPAN_TYPES = ["TEXT_INPUT", "TEXT_OUTPUT", "COMPLETION_INPUT", "COMPLETION", "KB_RETRIEVAL", "KB_INPUT",
  "RERANKING", "EXTERNAL_ENDPOINT", "PROMPT_ENGINEERING", "DOCUMENT_INPUT", "MAP_REDUCE", "DOCUMENT_SEARCH",
  "DOCUMENT_PROMPT", "CUSTOM", "CODE_EXECUTION", "DATA_MANIPULATION", "EVALUATION", "FILE_RETRIEVAL",
  "KB_ADD_CHUNK", "KB_MANAGEMENT", "GUARDRAIL", "OUTPUT_GUARDRAIL", "TRACER", "AGENT_TRACER", "AGENT_WORKFLOW",
  "STANDALONE"];

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "style") e.setAttribute("style", v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const state = { account: "", spans: [], selected: null, collapsed: new Set(), query: "", timer: null, loadGen: 0 };

// A trace's URL: #/trace/<trace id>[/<span id>][?collapsed=<span id>,...&q=<search>]
function traceHash(traceId, spanId) {
  let h = "#/trace/" + encodeURIComponent(traceId);
  if (spanId) h += "/" + encodeURIComponent(spanId);
  const q = [];
  if (state.collapsed.size) q.push("collapsed=" + [...state.collapsed].map(encodeURIComponent).join(","));
  if (state.query) q.push("q=" + encodeURIComponent(state.query));
  return q.length ? h + "?" + q.join("&") : h;
}

// A timestamp in milliseconds with its microseconds (Date.parse drops them).
function tsMs(ts) {
  const frac = /\.\d{3}(\d{1,3})/.exec(ts);
  return Date.parse(ts) + (frac ? Number((frac[1] + "00").slice(0, 3)) / 1000 : 0);
}

function ms(span) {
  if (!span.end_timestamp) return null;
  return tsMs(span.end_timestamp) - tsMs(span.start_timestamp);
}

function fmtDuration(d) {
  if (d === null) return "running";
  if (d < 1) return Math.round(d * 1000) + " µs";
  if (d < 1000) return Math.round(d) + " ms";
  if (d < 60000) return (d / 1000).toFixed(2) + " s";
  return (d / 60000).toFixed(1) + " min";
}

function fmtTime(ts) {
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toISOString().replace("T", " ").replace("Z", "");
}

function statusBadge(span) {
  if (!span.end_timestamp) return el("span", { class: "badge running", text: "running" });
  return el("span", { class: "badge " + (span.status || ""), text: span.status || "done" });
}

function showError(msg) {
  const p = $("#error");
  p.textContent = msg;
  p.hidden = !msg;
}

// A collector that requires an API key is opened as /?key=KEY.
const KEY = new URLSearchParams(location.search).get("key");

async function getJson(url) {
  const u = new URL(url, location.origin);
  if (KEY) u.searchParams.set("key", KEY);
  const r = await fetch(u, { cache: "no-store" });
  if (!r.ok) {
    const detail = await r.json().then((b) => b.detail, () => null);
    throw new Error(detail || url.split("?")[0] + ": HTTP " + r.status);
  }
  return r.json();
}

// ---- accounts ----

async function loadAccounts() {
  const accounts = await getJson("/ui/api/accounts");
  const params = new URLSearchParams(location.search);
  const wanted = params.get("account") || localStorage.getItem("sgp-account") || "";
  const sel = $("#account");
  sel.replaceChildren(...accounts.map((a) => el("option", { value: a, text: a })));
  if (wanted && !accounts.includes(wanted)) sel.prepend(el("option", { value: wanted, text: wanted }));
  state.account = wanted || accounts[0] || "";
  sel.value = state.account;
}
