"""What the Phoenix checks share (this crate's and sgp-trace-temporal's): reading a
project's spans as they arrive, and counting checks with one closing line."""

import json
import sys
import time
import urllib.request


def wait_for_spans(base, project, count, timeout=120):
    """The project's spans, once there are `count` of them or `timeout` seconds passed."""
    deadline = time.time() + timeout
    spans = fetch_spans(base, project)
    while len(spans) < count and time.time() < deadline:
        time.sleep(1)
        spans = fetch_spans(base, project)
    return spans


def fetch_spans(base, project):
    url = f"{base}/v1/projects/{project}/spans?limit=100"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)["data"]
    except Exception as error:  # the project appears with its first span
        print(f"waiting for spans: {error}")
        return []


class Checks:
    """`check(what, ok, detail)` prints one line per check; `finish()` prints
    `phoenix: N passed, M failed` and exits 1 when a check failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, what, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what} {detail}")

    def finish(self):
        print(f"phoenix: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
