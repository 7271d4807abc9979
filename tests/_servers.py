"""Serve the app with gunicorn on loopback ports, as production does, for multi-process tests."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

import config


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url, instance_dir, **extra):
    env = {k: v for k, v in os.environ.items() if k not in {"IOM_DEMO", "FLASK_DEBUG"}}
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "multi-process-test-secret",
                "IOM_INSTANCE_DIR": str(instance_dir), **extra})
    return env


@contextmanager
def gunicorn(database_url, tmp_path, count=2, workers=2, threads=1):
    """Start `count` gunicorn servers (each with `workers` processes) on one database; yield base URLs.

    A browser keeps idle (pre)connections open, which would hold sync workers: browser tests use threads.
    """
    servers = []
    try:
        for index in range(count):
            port = free_port()
            log = open(tmp_path / f"gunicorn-{index}.log", "wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
                 "--timeout", "120", "--graceful-timeout", "5", "wsgi:app"],
                cwd=config.BASE_DIR, env=server_env(database_url, tmp_path / "instance"),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            servers.append((f"http://127.0.0.1:{port}", process, log, tmp_path / f"gunicorn-{index}.log"))
        for url, process, _, log_path in servers:
            _wait_ready(url, process, log_path)
        yield [url for url, *_ in servers]
    finally:
        for _, process, log, _ in servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, log, _ in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()


def _wait_ready(url, process, log_path, attempts=300):
    """Poll the login page until the server answers (or report why it never did)."""
    for _ in range(attempts):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/login", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn at {url} did not answer:\n{log_path.read_text()[-3000:]}")
