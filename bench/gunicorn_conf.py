"""Gunicorn settings shared by the app and the baselines in the benchmark, with a memory probe.

Every BENCH_PROBE_EVERY requests a worker appends one JSON line to BENCH_PROBE_DIR/worker-<pid>.jsonl:
its request count, its resident memory and how many models are attached to the shared state machine.
"""
import json
import os
import sys

worker_class = "sync"
timeout = 120
loglevel = "warning"
accesslog = None

_served = 0


def _rss_kb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def post_request(worker, req, environ, resp):
    global _served
    _served += 1
    every = int(os.environ.get("BENCH_PROBE_EVERY") or 0)
    directory = os.environ.get("BENCH_PROBE_DIR")
    if not every or not directory or _served % every:
        return
    machine = sys.modules.get("workflow.machine")
    probe = {"pid": os.getpid(), "requests": _served, "rss_kb": _rss_kb(),
             "machine_models": len(machine.MACHINE.models) if machine else None}
    with open(os.path.join(directory, f"worker-{os.getpid()}.jsonl"), "a") as handle:
        handle.write(json.dumps(probe) + "\n")
