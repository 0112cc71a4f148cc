// The traces page: routing between the list and a trace, and start-up.
"use strict";

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
