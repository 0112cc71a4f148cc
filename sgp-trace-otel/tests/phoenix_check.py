"""Checks what Arize Phoenix stored from `phoenix_demo` (run by tests/phoenix.sh).

Usage: phoenix_check.py BASE_URL PROJECT EXPECTED_JSON

EXPECTED_JSON is the line phoenix_demo printed: the SGP trace id, the W3C span id each span
should have, and the OpenTelemetry ids the spans ran in. Prints one line per check and a
closing `phoenix: N passed, M failed`; exits 1 when a check failed.
"""

import json
import sys

from phoenix_spans import Checks, wait_for_spans

base, project, expected_path = sys.argv[1:4]
with open(expected_path) as f:
    expected = json.load(f)

NAMES = ["answer question", "retrieve", "chat", "call tool"]

spans = wait_for_spans(base, project, len(NAMES))
check = Checks()

by_name = {span["name"]: span for span in spans}
check("the four spans, each once", sorted(by_name) == sorted(NAMES) and len(spans) == 4,
      [span["name"] for span in spans])
if sorted(by_name) != sorted(NAMES):
    check.finish()

trace_hex = expected["trace_id"].replace("-", "")
check("one trace id, the SGP UUID's 32 hex digits",
      {span["context"]["trace_id"] for span in spans} == {trace_hex},
      {span["context"]["trace_id"] for span in spans})
for name in NAMES:
    check(f"{name}: span id derived from the SGP id",
          by_name[name]["context"]["span_id"] == expected[name],
          (by_name[name]["context"]["span_id"], expected[name]))

parents = {"answer question": None, "retrieve": "answer question", "chat": "answer question",
           "call tool": "chat"}
for name, parent in parents.items():
    want = None if parent is None else expected[parent]
    check(f"{name}: parent {parent}", by_name[name]["parent_id"] == want,
          (by_name[name]["parent_id"], want))

for name in ["answer question", "retrieve", "chat"]:
    check(f"{name}: status OK", by_name[name]["status_code"] == "OK", by_name[name]["status_code"])
tool = by_name["call tool"]
check("call tool: status ERROR with its message",
      tool["status_code"] == "ERROR" and tool["status_message"] == "the search tool timed out",
      (tool["status_code"], tool["status_message"]))
check("call tool: exception event",
      any(event["name"] == "exception" for event in tool.get("events", [])), tool.get("events"))


def attributes(name):
    return by_name[name]["attributes"]


types = {"answer question": "TRACER", "retrieve": "KB_RETRIEVAL", "chat": "COMPLETION",
         "call tool": "STANDALONE"}
for name, span_type in types.items():
    attrs = attributes(name)
    check(f"{name}: sgp.span_type {span_type}", attrs.get("sgp.span_type") == span_type,
          attrs.get("sgp.span_type"))
    check(f"{name}: sgp.group_id", attrs.get("sgp.group_id") == "demo-group",
          attrs.get("sgp.group_id"))
    check(f"{name}: sgp.trace_id", attrs.get("sgp.trace_id") == expected["trace_id"],
          attrs.get("sgp.trace_id"))
    check(f"{name}: correlation ids",
          attrs.get("sgp.obs_trace_id") == expected["obs_trace_id"]
          and attrs.get("sgp.obs_span_id") == expected["obs_span_id"],
          (attrs.get("sgp.obs_trace_id"), attrs.get("sgp.obs_span_id")))

root = attributes("answer question")
check("answer question: sgp.input", json.loads(root.get("sgp.input", "null"))
      == {"question": "What is SGP?"}, root.get("sgp.input"))
retrieve = attributes("retrieve")
check("retrieve: sgp.output", json.loads(retrieve.get("sgp.output", "null"))
      == {"documents": ["doc-1", "doc-2"]}, retrieve.get("sgp.output"))
check("retrieve: typed metadata", retrieve.get("sgp.metadata.top_k") == 2,
      retrieve.get("sgp.metadata.top_k"))

chat = attributes("chat")
llm = {
    "chat.prompt": "What is SGP?",
    "chat.response": "Scale's GenAI platform.",
    "chat.model": "gpt-4o",
    "chat.prompt_tokens": 12,
    "chat.completion_tokens": 7,
    "chat.total_tokens": 19,
    "x-username": "alice",
    "x-session-id": "session-9",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.provider.name": "openai",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.conversation.id": "session-9",
}
for key, value in llm.items():
    check(f"chat: {key}", chat.get(key) == value, chat.get(key))
messages = json.loads(chat.get("gen_ai.input.messages", "null"))
check("chat: gen_ai.input.messages",
      messages == [{"role": "user", "parts": [{"type": "text", "content": "What is SGP?"}]}],
      messages)
check("chat: Phoenix reads it as an LLM span", by_name["chat"]["span_kind"] == "LLM",
      by_name["chat"]["span_kind"])
tool_attrs = attributes("call tool")
check("call tool: error (the message) and error.type",
      tool_attrs.get("error") == "the search tool timed out"
      and tool_attrs.get("error.type") == "ToolError",
      (tool_attrs.get("error"), tool_attrs.get("error.type")))
check("call tool: no LLM attributes", "chat.model" not in tool_attrs)

check.finish()
