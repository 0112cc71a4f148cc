// A trace: its span tree with a timing waterfall, folding, keyboard
// navigation and search within the trace.
"use strict";

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
// else left of it, else inside it if it fits in the bar's box (where it
// covers nothing else); a label that fits nowhere is hidden (the track's
// title still gives the duration). Computed from the bar's place and the
// text's widths beside and inside a bar, so no row is laid out to place
// its label.
function placeLabel(track, barLeft, barWidth, width) {
  const GAP = 4;
  const barRight = barLeft + barWidth;
  if (barRight + GAP + width.beside <= track) return { place: "right", x: barRight + GAP };
  if (barLeft - GAP - width.beside >= 0) return { place: "left", x: barLeft - GAP - width.beside };
  if (barWidth >= width.inside + 2 * GAP) return { place: "inside", x: barRight - GAP - width.inside };
  return { place: "none", x: 0 };
}

// The widths of a duration label's text in the font of a label beside its
// bar and in that of one inside it (rounded up with a pixel to spare),
// cached by text.
function labelMeasurer() {
  const context = (place) => {
    const probe = el("span", { class: "dur", "data-place": place, style: "visibility:hidden" });
    $("#tree").append(probe);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = getComputedStyle(probe).font;
    probe.remove();
    return ctx;
  };
  const beside = context("right"), inside = context("inside");
  const widthIn = (ctx, text) => Math.ceil(ctx.measureText(text).width) + 1;
  const cache = new Map();
  return (text) => {
    if (!cache.has(text)) cache.set(text, { beside: widthIn(beside, text), inside: widthIn(inside, text) });
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
