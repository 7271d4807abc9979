"""Serve an app under gunicorn on loopback for the benchmark, and stop it afterwards."""
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.scratch import SCRATCH_DIR, SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
APP = "app:create_app()"
BASELINE = "bench.baseline_app:create_app()"
WORKERS = 2


@dataclass
class Server:
    base_url: str
    pid: int
    log: Path

    def cpu_seconds(self):
        """CPU seconds the server has used so far: its master and its live workers (not a database server)."""
        return process_tree_cpu_seconds(self.pid)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name: state, ppid, ..., utime, stime at 11, 12."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def process_tree_cpu_seconds(pid):
    """User + system CPU seconds used so far by a process and its live children (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
        except OSError:  # gone since the listing
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app_spec, database_url, *, workers=WORKERS, probe_dir=None, probe_every=0):
    """Run `gunicorn -w <workers> app_spec` on a free loopback port; yield a Server."""
    port = free_port()
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    log = SCRATCH_DIR / f"gunicorn-{port}.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
           "BENCH_PROBE_DIR": str(probe_dir or ""), "BENCH_PROBE_EVERY": str(probe_every)}
    env.pop("IOM_DEMO", None)
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
               "--chdir", str(ROOT), "--config", str(ROOT / "bench" / "gunicorn_conf.py"), app_spec]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}"
    failed = True
    try:
        _wait_ready(base_url, process, log)
        yield Server(base_url, process.pid, log)
        failed = False
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not failed:
            # Kept only when something went wrong, for reading.
            log.unlink(missing_ok=True)


def _wait_ready(base_url, process, log, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(base_url + "/", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{log.read_text()[-3000:]}")
