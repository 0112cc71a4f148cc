// The traces page: a list of traces, a trace's span tree with a timing
// waterfall, and a span's details. Plain DOM, no external resources.
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

// ---- traces list ----

// The list's state lives in the hash: #/?range=1h&meta=k%3Dv&sort=duration&after=CURSOR
const RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 };
const LIST_FIELDS = ["range", "from", "to", "name", "type", "status", "group_id", "text", "sort", "order", "live"];

function listParams() {
  const [, query] = location.hash.replace(/^#\/?/, "").split("?");
  return new URLSearchParams(query || "");
}

function addMetaInput(value) {
  $("#meta-filters").append(el("input", { name: "meta", placeholder: "metadata key=value", value: value || "" }));
}

// Shows the hash's filters in the form.
function fillForm(params) {
  const form = $("#filters");
  for (const f of LIST_FIELDS) {
    const input = form.elements[f];
    if (input.type === "checkbox") input.checked = params.get(f) === "1";
    else input.value = params.get(f) || (input.tagName === "SELECT" ? input.options[0].value : "");
  }
  $("#meta-filters").replaceChildren();
  const metas = params.getAll("meta");
  for (const m of metas.length ? metas : [""]) addMetaInput(m);
  $("#custom-range").hidden = form.elements.range.value !== "custom";
}

// The form's filters as hash parameters (empty ones left out).
function formParams() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters")).entries()) {
    if (!v.trim()) continue;
    if ((k === "from" || k === "to") && $("#filters").elements.range.value !== "custom") continue;
    if ((k === "sort" && v === "start") || (k === "order" && v === "desc")) continue;
    q.append(k, v.trim());
  }
  return q;
}

function listHash(params) {
  const q = params.toString();
  return "#/" + (q ? "?" + q : "");
}

// The data query of a list view: relative ranges end now.
function dataQuery(params) {
  const q = new URLSearchParams({ account: state.account });
  for (const [k, v] of params.entries()) {
    if (k === "range" || k === "live") continue;
    q.append(k, v);
  }
  const range = RANGES[params.get("range")];
  if (range) q.set("from", new Date(Date.now() - range).toISOString());
  if (params.get("range") !== "custom") { q.delete("to"); if (!range) q.delete("from"); }
  return q;
}

function traceRow(t) {
  const r = t.root;
  const status = t.running_count > 0 && !r.end_timestamp
    ? el("span", { class: "badge running", text: "running" })
    : statusBadge(r);
  return el("tr", { "data-trace-id": r.trace_id, onclick: () => { location.hash = "#/trace/" + encodeURIComponent(r.trace_id); } },
    el("td", {}, el("a", { href: "#/trace/" + encodeURIComponent(r.trace_id), text: r.name })),
    el("td", { text: fmtTime(r.start_timestamp) }),
    el("td", { text: fmtDuration(ms(r)) }),
    el("td", {}, status, t.error_count > 0 && r.status !== "ERROR" ? el("span", { class: "badge ERROR", text: t.error_count + (t.error_count === 1 ? " error" : " errors") }) : null),
    el("td", { text: String(t.span_count) + (t.running_count ? " (" + t.running_count + " running)" : "") }),
    el("td", { class: "id", text: r.trace_id }));
}

function setPager(params, page) {
  const before = params.has("before") && !params.has("after");
  const paged = params.has("after") || params.has("before");
  const go = (key, cursor) => () => {
    const next = new URLSearchParams(params);
    next.delete("after"); next.delete("before");
    next.set(key, cursor);
    location.hash = listHash(next);
  };
  const older = $("#older"), newer = $("#newer");
  older.disabled = !page.next_cursor || (!before && !page.has_more);
  newer.disabled = !page.prev_cursor || (before ? !page.has_more : !paged);
  older.onclick = go("after", page.next_cursor);
  newer.onclick = go("before", page.prev_cursor);
}

async function showList(params) {
  $("#trace-view").hidden = true;
  $("#list-view").hidden = false;
  document.body.dataset.view = "list";
  state.listHash = listHash(params);
  fillForm(params);
  await loadList(params);
}

// Loads the rows of a list view (the form is left as the user has it).
async function loadList(params) {
  let page;
  const gen = ++state.loadGen;
  try {
    page = await getJson("/ui/api/traces?" + dataQuery(params));
  } catch (e) {
    if (gen !== state.loadGen) return;
    // The form stays, with the error line; no stale rows.
    $("#traces tbody").replaceChildren();
    $("#list-empty").hidden = true;
    $("#older").disabled = $("#newer").disabled = true;
    throw e;
  }
  // A newer load (a click, the next reload) has started: this one is stale.
  if (gen !== state.loadGen) return;
  $("#traces tbody").replaceChildren(...page.items.map(traceRow));
  $("#list-empty").hidden = page.items.length > 0;
  setPager(params, page);
  document.body.dataset.loaded = "list";
  // Live, or while a listed trace runs: the first page reloads every 3 s
  // while the view stays.
  clearTimeout(state.timer);
  const running = page.items.some((t) => t.running_count > 0);
  if ((params.get("live") === "1" || running) && !params.has("after") && !params.has("before")) {
    const hash = location.hash;
    state.timer = setTimeout(async () => {
      if (location.hash !== hash) return;
      try { await loadList(params); showError(""); } catch (e) { showError("Could not reload: " + e.message); }
    }, 3000);
  }
}

async function openId(id) {
  const found = await getJson("/ui/api/find?" + new URLSearchParams({ account: state.account, id }));
  state.traceId = null;
  location.hash = traceHash(found.trace_id, found.span_id);
}

// ---- trace view ----

function buildTree(spans) {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_id && byId.has(s.parent_id) && s.parent_id !== s.id) {
      if (!children.has(s.parent_id)) children.set(s.parent_id, []);
      children.get(s.parent_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a, b) => tsMs(a.start_timestamp) - tsMs(b.start_timestamp);
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);
  return { roots, children, byId };
}

// Escapes text for HTML; the tree is written as one HTML string, which the
// browser builds many times faster than element by element.
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function renderTrace() {
  const spans = state.spans;
  state.tree = buildTree(spans);
  const { roots, children } = state.tree;
  const matches = new Set(searchMatches());
  const now = Date.now();
  let t0 = Infinity, t1 = -Infinity;
  for (const s of spans) {
    const start = tsMs(s.start_timestamp);
    t0 = Math.min(t0, start);
    t1 = Math.max(t1, s.end_timestamp ? tsMs(s.end_timestamp) : start);
  }
  const anyRunning = spans.some((s) => !s.end_timestamp);
  if (anyRunning) t1 = Math.max(t1, Math.min(now, t1 + Math.max(1000, (t1 - t0) * 0.1)));
  const total = Math.max(t1 - t0, 1);
  $("#axis").replaceChildren(el("span", { text: "0" }), el("span", { text: fmtDuration(total / 2) }), el("span", { text: fmtDuration(total) }));
  const track = $("#axis").getBoundingClientRect().width;
  const measure = labelMeasurer();

  const html = [];
  const walk = (span, depth, hidden) => {
    const kids = children.get(span.id) || [];
    const collapsed = state.collapsed.has(span.id);
    const start = tsMs(span.start_timestamp) - t0;
    const end = span.end_timestamp ? tsMs(span.end_timestamp) - t0 : t1 - t0;
    const left = (start / total) * 100;
    const width = Math.max(((end - start) / total) * 100, 0.2);
    const running = !span.end_timestamp;
    const orphan = span.parent_id && depth === 0;
    const error = span.status === "ERROR";
    const id = esc(span.id);
    const cls = "span-row" + (hidden ? " hidden" : "") + (state.selected === span.id ? " selected" : "") + (matches.has(span.id) ? " match" : "");
    html.push('<div class="', cls, '" role="treeitem" data-span-id="', id, '" data-depth="', depth,
      '" data-parent-id="', esc(span.parent_id || ""), '" data-running="', running, '"',
      kids.length ? ' aria-expanded="' + !collapsed + '"' : "", ">",
      '<div class="label" style="padding-left:', depth * 16, 'px">',
      kids.length
        ? '<span class="toggle" role="button" aria-label="' + (collapsed ? "expand" : "collapse") + '">' + (collapsed ? "▸" : "▾") + "</span>"
        : '<span class="toggle">·</span>',
      '<span class="span-name" title="', esc(span.name), '">', esc(span.name), "</span>",
      '<span class="span-type">', esc(span.type || ""), "</span>",
      running ? '<span class="badge running">running</span>' : "",
      error ? '<span class="badge ERROR">error</span>' : "",
      orphan ? '<span class="span-type">(parent not received)</span>' : "",
      '</div><div class="track" title="', fmtDuration(running ? null : end - start), '">',
      '<div class="bar', running ? " running" : "", error ? " ERROR" : "", '" style="left:', left, "%;width:", width, '%"></div>');
    if (!running) {
      const text = fmtDuration(end - start);
      const { place, x } = placeLabel(track, (left / 100) * track, Math.max((width / 100) * track, 2), measure(text));
      html.push('<span class="dur" data-place="', place, '" style="left:', x, 'px"', place === "none" ? " hidden" : "", ">", text, "</span>");
    }
    html.push("</div></div>");
    for (const k of kids) walk(k, depth + 1, hidden || collapsed);
  };
  for (const r of roots) walk(r, 0, false);
  $("#tree").innerHTML = html.join("");
}

// Where a duration label goes so that it overlaps no bar: right of its bar,
// else left of it, else inside it; a label that fits nowhere is hidden (the
// track's title still gives the duration). Computed from the bar's place
// and the text's width, so no row is laid out to place its label.
function placeLabel(track, barLeft, barWidth, w) {
  const GAP = 4;
  const barRight = barLeft + barWidth;
  if (barRight + GAP + w <= track) return { place: "right", x: barRight + GAP };
  if (barLeft - GAP - w >= 0) return { place: "left", x: barLeft - GAP - w };
  if (barWidth >= w + 2 * GAP) return { place: "inside", x: barRight - GAP - w };
  return { place: "none", x: 0 };
}

// The width of a duration label's text, in the labels' font (rounded up
// with a pixel to spare), cached by text.
function labelMeasurer() {
  const probe = el("span", { class: "dur", style: "visibility:hidden" });
  $("#tree").append(probe);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = getComputedStyle(probe).font;
  probe.remove();
  const cache = new Map();
  return (text) => {
    if (!cache.has(text)) cache.set(text, Math.ceil(ctx.measureText(text).width) + 1);
    return cache.get(text);
  };
}

// Clicks in the tree: a toggle folds or unfolds, a row selects its span.
function onTreeClick(ev) {
  const row = ev.target.closest(".span-row");
  if (!row) return;
  const id = row.dataset.spanId;
  if (ev.target.closest(".toggle[role=button]")) setCollapsed(id, !state.collapsed.has(id));
  else location.hash = traceHash(state.traceId, id);
}

function setCollapsed(id, collapse) {
  if (collapse) state.collapsed.add(id); else state.collapsed.delete(id);
  history.replaceState(null, "", traceHash(state.traceId, state.selected));
  renderTrace();
}

// Moves the selection without rebuilding the tree.
function selectSpan(id) {
  state.selected = id;
  for (const r of document.querySelectorAll("#tree .span-row.selected")) r.classList.remove("selected");
  const row = document.querySelector('#tree .span-row[data-span-id="' + CSS.escape(id) + '"]');
  if (row) { row.classList.add("selected"); row.scrollIntoView({ block: "nearest" }); }
  history.replaceState(null, "", traceHash(state.traceId, id));
  renderSpan();
}

function visibleRows() {
  return [...document.querySelectorAll("#tree .span-row:not(.hidden)")];
}

// Up and down move through the visible rows; right unfolds a span, then
// enters it; left folds it, then goes to its parent.
function onTreeKey(ev) {
  if (document.body.dataset.view !== "trace" || !state.tree || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.target.closest && ev.target.closest("input, select, textarea, button")) return;
  const { byId, children } = state.tree;
  const id = state.selected;
  const kids = children.get(id) || [];
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    const rows = visibleRows();
    const i = rows.findIndex((r) => r.dataset.spanId === id);
    const j = ev.key === "ArrowDown" ? Math.min(i + 1, rows.length - 1) : Math.max(i - 1, 0);
    if (rows[j]) selectSpan(rows[j].dataset.spanId);
  } else if (ev.key === "ArrowRight") {
    if (kids.length && state.collapsed.has(id)) setCollapsed(id, false);
    else if (kids.length) selectSpan(kids[0].id);
  } else if (ev.key === "ArrowLeft") {
    const parent = byId.get(id)?.parent_id;
    if (kids.length && !state.collapsed.has(id)) setCollapsed(id, true);
    else if (parent && byId.has(parent)) selectSpan(parent);
  } else {
    return;
  }
  ev.preventDefault();
}

// ---- search within a trace ----

function spanText(s) {
  return [s.name, s.id, s.type, s.status, JSON.stringify(s.input ?? ""), JSON.stringify(s.output ?? ""),
    JSON.stringify(s.metadata ?? "")].join("\n").toLowerCase();
}

// The ids of the spans the search term is found in (name, id, type, status,
// input, output, metadata), in tree order.
function searchMatches() {
  const q = state.query.trim().toLowerCase();
  if (!q) return [];
  const found = new Set(state.spans.filter((s) => spanText(s).includes(q)).map((s) => s.id));
  const order = [];
  const { roots, children } = state.tree;
  const walk = (s) => { if (found.has(s.id)) order.push(s.id); for (const k of children.get(s.id) || []) walk(k); };
  roots.forEach(walk);
  return order;
}

function runSearch(term) {
  state.query = term;
  const matches = searchMatches();
  // Unfold what hides a match.
  const { byId } = state.tree;
  for (const id of matches) {
    const seen = new Set();
    for (let p = byId.get(id).parent_id; p && byId.has(p) && !seen.has(p); p = byId.get(p).parent_id) {
      seen.add(p);
      state.collapsed.delete(p);
    }
  }
  history.replaceState(null, "", traceHash(state.traceId, state.selected));
  renderTrace();
  showSearchCount(matches);
}

function showSearchCount(matches) {
  $("#search-count").textContent = state.query.trim()
    ? matches.length + (matches.length === 1 ? " match" : " matches") : "";
}

// Enter: the next match after the selected span, in tree order.
function nextMatch() {
  const matches = searchMatches();
  if (!matches.length) return;
  const rows = visibleRows().map((r) => r.dataset.spanId);
  const at = rows.indexOf(state.selected);
  const next = matches.find((m) => rows.indexOf(m) > at) || matches[0];
  selectSpan(next);
}


function pretty(value) {
  return el("pre", { text: JSON.stringify(value, null, 2) });
}

// Copies text to the clipboard; the button says whether it worked.
async function copyText(button, text) {
  try {
    // A permission prompt nobody answers would leave the promise pending.
    const timeout = new Promise((_, fail) => setTimeout(() => fail(new Error("timeout")), 1000));
    await Promise.race([navigator.clipboard.writeText(text), timeout]);
    button.textContent = "copied";
  } catch (e) {
    const area = el("textarea", { style: "position:fixed;opacity:0" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    button.textContent = ok ? "copied" : "copy failed";
  }
  setTimeout(() => { button.textContent = "copy"; }, 1500);
}

function copyButton(text) {
  return el("button", { type: "button", class: "copy", "data-copy": text, title: "copy to the clipboard", text: "copy",
    onclick: (ev) => { ev.stopPropagation(); copyText(ev.target, text); } });
}

// ---- LLM spans ----

// A field of the SDK's LLM metadata: flat (`llm.usage.prompt`, as the SDK
// writes it for SGP's metadata filter) or nested (`{"llm": {"usage": {...}}}`).
function llmField(meta, path) {
  if (meta["llm." + path] !== undefined) return meta["llm." + path];
  let v = meta.llm;
  for (const k of path.split(".")) v = v && typeof v === "object" ? v[k] : undefined;
  return v;
}

function isLlmSpan(span) {
  const meta = span.metadata || {};
  return span.type === "COMPLETION" || llmField(meta, "operation") !== undefined || (meta.llm && typeof meta.llm === "object");
}

// A message's text: a string, or OpenAI / OpenTelemetry content parts.
function messageText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : p.text ?? p.content ?? JSON.stringify(p))).join("\n");
  return content === undefined || content === null ? "" : JSON.stringify(content, null, 2);
}

// The conversation of an LLM span: its messages and the response.
function llmChat(span) {
  const input = span.input || {}, output = span.output || {}, meta = span.metadata || {};
  const messages = [];
  const fromList = (list) => {
    for (const m of list) messages.push({ role: m.role || "user", text: messageText(m.content ?? m.parts ?? m.text) });
  };
  if (Array.isArray(input.messages)) fromList(input.messages);
  else if (Array.isArray(llmField(meta, "messages"))) fromList(llmField(meta, "messages"));
  else if (input.prompt !== undefined) messages.push({ role: "user", text: messageText(input.prompt) });
  const choice = Array.isArray(output.choices) ? output.choices[0] || {} : {};
  const response = output.response ?? choice.message?.content ?? output.text ?? output.content ?? output.completion;
  return {
    messages,
    response: response === undefined ? null : messageText(response),
    model: llmField(meta, "model") ?? meta.model ?? output.model,
    provider: llmField(meta, "provider"),
    usage: {
      prompt: llmField(meta, "usage.prompt") ?? output.usage?.prompt_tokens,
      completion: llmField(meta, "usage.completion") ?? output.usage?.completion_tokens,
      total: llmField(meta, "usage.total") ?? output.usage?.total_tokens,
    },
    finish: llmField(meta, "finish_reason") ?? output.finish_reason ?? choice.finish_reason,
  };
}

function renderChat(span) {
  const chat = llmChat(span);
  const facts = [["model", chat.model], ["provider", chat.provider], ["prompt tokens", chat.usage.prompt],
    ["completion tokens", chat.usage.completion], ["total tokens", chat.usage.total], ["finish reason", chat.finish]]
    .filter(([, v]) => v !== undefined && v !== null);
  const bubble = (role, text, extra) => el("div", { class: "msg " + extra, "data-role": role },
    el("div", { class: "role", text: role }), el("div", { class: "content", text }));
  return el("section", { id: "chat" },
    el("h3", { text: "Conversation" }),
    el("dl", { class: "llm-facts" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { "data-fact": k, text: String(v) })])),
    ...chat.messages.map((m) => bubble(m.role, m.text, "")),
    chat.response !== null ? bubble("assistant", chat.response, "response")
      : el("p", { class: "empty", text: span.end_timestamp ? "No response recorded." : "Waiting for the response." }));
}

function renderError(span) {
  const meta = span.metadata || {};
  if (span.status !== "ERROR" && !meta.error) return null;
  const msg = [meta.error_type, meta.error_message].filter(Boolean).join(": ") || "The span ended with an error.";
  return el("div", { class: "errbox", id: "span-error" },
    el("div", { text: msg }), meta.error_category ? el("div", { class: "span-type", text: "category: " + meta.error_category }) : null);
}

function renderSpan() {
  const pane = $("#span-view");
  const span = state.spans.find((s) => s.id === state.selected);
  if (!span) { pane.replaceChildren(el("p", { class: "empty", text: "Select a span." })); return; }
  const d = ms(span);
  const ids = new Set(["id", "trace id", "parent id", "group id"]);
  const facts = [["id", span.id], ["trace id", span.trace_id], ["parent id", span.parent_id], ["group id", span.group_id],
    ["type", span.type], ["status", span.end_timestamp ? span.status : "running"], ["start", fmtTime(span.start_timestamp)],
    ["end", span.end_timestamp ? fmtTime(span.end_timestamp) : "—"], ["duration", fmtDuration(d)],
    ["obs trace id", span.obs_trace_id], ["obs span id", span.obs_span_id]]
    .filter(([, v]) => v !== undefined && v !== null && v !== "");
  // Errors first: they are what a reader of a failed span looks for.
  const parts = [el("h2", { text: span.name }), statusBadge(span), renderError(span),
    el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", { text: k }),
      el("dd", { text: String(v) }, ids.has(k) ? copyButton(String(v)) : null)]))];
  const fields = ["input", "output", "metadata", "expected"].filter((f) => span[f] !== undefined);
  if (isLlmSpan(span)) {
    parts.push(renderChat(span));
    if (fields.length) {
      parts.push(el("details", { id: "raw-json" }, el("summary", { text: "raw JSON" }),
        ...fields.flatMap((f) => [el("h3", { text: f }), pretty(span[f])])));
    }
  } else {
    for (const f of fields) parts.push(el("h3", { text: f }), pretty(span[f]));
  }
  pane.replaceChildren(...parts.filter(Boolean));
}

async function showTrace(traceId, spanId) {
  $("#list-view").hidden = true;
  $("#trace-view").hidden = false;
  document.body.dataset.view = "trace";
  if (state.traceId !== traceId || !spanId) {
    const gen = ++state.loadGen;
    const spans = await getJson("/ui/api/trace?" + new URLSearchParams({ account: state.account, trace_id: traceId }));
    if (gen !== state.loadGen) return;
    state.spans = spans;
    state.traceId = traceId;
  }
  if (!state.spans.length) {
    $("#trace-title").textContent = traceId;
    $("#tree").replaceChildren(el("p", { class: "empty", text: "No spans in this trace." }));
    document.body.dataset.loaded = "trace";
    return;
  }
  const root = state.spans.find((s) => !s.parent_id) || state.spans[0];
  $("#trace-title").textContent = root.name + " (" + state.spans.length + " spans)";
  state.selected = spanId || state.selected && state.spans.some((s) => s.id === state.selected) && state.selected || root.id;
  renderTrace();
  renderSpan();
  $("#trace-search").value = state.query;
  showSearchCount(searchMatches());
  document.body.dataset.loaded = "trace";
  // While spans are running, reload the trace every 3 s to show them end.
  clearTimeout(state.timer);
  if (state.spans.some((s) => !s.end_timestamp)) {
    state.timer = setTimeout(async () => {
      if (state.traceId !== traceId) return;
      state.traceId = null;
      // No span named: the selection is read after the fetch, so a key
      // pressed meanwhile is kept.
      try { await showTrace(traceId, null); } catch (e) { showError("Could not reload: " + e.message); }
    }, 3000);
  }
}

// ---- routing ----

async function route() {
  clearTimeout(state.timer);
  showError("");
  document.body.dataset.loaded = "";
  try {
    const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
    const parts = path.split("/").map(decodeURIComponent);
    const hashQuery = new URLSearchParams(query || "");
    const collapsed = hashQuery.get("collapsed");
    state.collapsed = new Set(collapsed ? collapsed.split(",").filter(Boolean) : []);
    state.query = hashQuery.get("q") || "";
    if (parts[0] === "trace" && parts[1]) await showTrace(parts[1], parts[2]);
    else await showList(listParams());
  } catch (e) {
    showError("Could not load: " + e.message);
    document.body.dataset.loaded = "error";
  }
}

async function start() {
  const typeSel = $("#filters select[name=type]");
  for (const t of SPAN_TYPES) typeSel.append(el("option", { value: t, text: t }));
  const applyFilters = () => {
    const hash = listHash(formParams());
    if (location.hash === hash) route(); else location.hash = hash;
  };
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); applyFilters(); });
  $("#filters").addEventListener("reset", () => setTimeout(() => { location.hash = "#/"; }, 0));
  $("#filters").elements.range.addEventListener("change", (ev) => { $("#custom-range").hidden = ev.target.value !== "custom"; });
  $("#add-meta").addEventListener("click", () => addMetaInput(""));
  $("#open-id").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = ev.target.elements.id.value.trim();
    if (!id) return;
    try { showError(""); await openId(id); } catch (e) { showError("Could not open " + JSON.stringify(id) + ": " + e.message); }
  });
  $(".crumbs a").addEventListener("click", (ev) => { ev.preventDefault(); location.hash = state.listHash || "#/"; });
  $("#account").addEventListener("change", (ev) => {
    state.account = ev.target.value;
    localStorage.setItem("sgp-account", state.account);
    state.traceId = null;
    location.hash = "#/";
    route();
  });
  $("#refresh").addEventListener("click", () => { state.traceId = null; route(); });
  window.addEventListener("hashchange", route);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (document.body.dataset.view === "trace" && state.tree) renderTrace(); }, 100);
  });
  $("#tree").addEventListener("click", onTreeClick);
  document.addEventListener("keydown", onTreeKey);
  $("#trace-search").addEventListener("input", (ev) => runSearch(ev.target.value));
  $("#trace-search").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); nextMatch(); }
    if (ev.key === "Escape") { ev.target.value = ""; runSearch(""); }
  });
  try {
    await loadAccounts();
  } catch (e) {
    showError("Could not load accounts: " + e.message);
  }
  await route();
}

start();
