"""Checks what Arize Phoenix stored from `phoenix_guide` (run by tests/phoenix.sh).

Usage: phoenix_check.py BASE_URL PROJECT EXPECTED_JSON

EXPECTED_JSON is the line phoenix_guide printed: the workflow id. Prints one line per check
and a closing `phoenix: N passed, M failed`; exits 1 when a check failed.
"""

import json
import sys
from pathlib import Path

# The shared reader and counter live beside sgp-trace-otel's own Phoenix check.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sgp-trace-otel" / "tests"))
from phoenix_spans import Checks, wait_for_spans  # noqa: E402

base, project, expected_path = sys.argv[1:4]
with open(expected_path) as f:
    workflow_id = json.load(f)["workflow_id"]

# Each name once, with its parent's name (None: a root).
PARENTS = {
    "StartWorkflow:YourMainWorkflow": None,
    "RunWorkflow:YourMainWorkflow": "StartWorkflow:YourMainWorkflow",
    "StartChildWorkflow:YourSubWorkflow": "RunWorkflow:YourMainWorkflow",
    "RunWorkflow:YourSubWorkflow": "StartChildWorkflow:YourSubWorkflow",
    "StartActivity:your_llm_activity": "RunWorkflow:YourMainWorkflow",
    "RunActivity:your_llm_activity": "StartActivity:your_llm_activity",
    "moderate": "RunActivity:your_llm_activity",
    "QueryWorkflow:status": None,
    "HandleQuery:status": "QueryWorkflow:status",
    "SignalWorkflow:approve": None,
    "HandleSignal:approve": "SignalWorkflow:approve",
}
KINDS = {name: "client" for name in PARENTS}
KINDS.update({name: "server" for name in PARENTS
              if name.startswith(("Run", "Handle"))})
# An LLM span made inside the activity: kind client, set by the OTLP mapping, not metadata.
KINDS["moderate"] = None

spans = wait_for_spans(base, project, len(PARENTS))
check = Checks()

names = sorted(span["name"] for span in spans)
check("the guide's spans, each once", names == sorted(PARENTS), names)
by_name = {span["name"]: span for span in spans}
if sorted(by_name) != sorted(PARENTS):
    check.finish()

for name, parent in PARENTS.items():
    want = None if parent is None else by_name[parent]["context"]["span_id"]
    check(f"{name}: parent {parent}", by_name[name]["parent_id"] == want,
          (by_name[name]["parent_id"], want))
    if parent is not None:
        check(f"{name}: in its parent's trace",
              by_name[name]["context"]["trace_id"] == by_name[parent]["context"]["trace_id"])
    attrs = by_name[name]["attributes"]
    check(f"{name}: kind {KINDS[name]}", attrs.get("sgp.metadata.span.kind") == KINDS[name],
          attrs.get("sgp.metadata.span.kind"))
    check(f"{name}: status OK", by_name[name]["status_code"] == "OK",
          by_name[name]["status_code"])

for name in ["StartWorkflow:YourMainWorkflow", "RunWorkflow:YourMainWorkflow",
             "StartActivity:your_llm_activity", "RunActivity:your_llm_activity",
             "HandleSignal:approve", "HandleQuery:status"]:
    attrs = by_name[name]["attributes"]
    check(f"{name}: temporalWorkflowID", attrs.get("temporalWorkflowID") == workflow_id,
          attrs.get("temporalWorkflowID"))
    check(f"{name}: temporalRunID", bool(attrs.get("temporalRunID")), attrs.get("temporalRunID"))
check("RunWorkflow:YourSubWorkflow: its own workflow id",
      by_name["RunWorkflow:YourSubWorkflow"]["attributes"].get("temporalWorkflowID")
      == f"{workflow_id}-sub")

activity = by_name["RunActivity:your_llm_activity"]["attributes"]
check("RunActivity: temporalActivityID", bool(activity.get("temporalActivityID")),
      activity.get("temporalActivityID"))
llm = {
    "chat.prompt": "notes on SGP",
    "chat.response": "an answer to notes on SGP",
    "chat.model": "gpt-4o",
    "chat.prompt_tokens": 12,
    "chat.completion_tokens": 7,
    "chat.total_tokens": 19,
    "x-username": "alice",
    "x-session-id": workflow_id,
}
for key, value in llm.items():
    check(f"RunActivity: {key}", activity.get(key) == value, activity.get(key))
moderate = by_name["moderate"]["attributes"]
check("moderate (inside the activity): x-session-id = the workflow id",
      moderate.get("x-session-id") == workflow_id, moderate.get("x-session-id"))
check("moderate: chat.model", moderate.get("chat.model") == "omni-moderation-latest",
      moderate.get("chat.model"))
check("RunWorkflow: no LLM attributes",
      "chat.model" not in by_name["RunWorkflow:YourMainWorkflow"]["attributes"])

check.finish()
