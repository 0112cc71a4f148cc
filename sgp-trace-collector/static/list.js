// The traces list: filters, time range, sorting, cursor paging and live
// reload, all kept in the URL's hash; the id box.
"use strict";

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
