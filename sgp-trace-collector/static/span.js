// A span's view: its error first, its facts with copy buttons, and an LLM
// call as a conversation with the raw JSON one click away.
"use strict";

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
