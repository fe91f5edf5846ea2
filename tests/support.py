"""Shared test plumbing: free ports, readiness polling, and a real `netwatch run` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (TCP by default; pass socket.SOCK_DGRAM for UDP)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ipv6_loopback() -> bool:
    """Whether ::1 exists here (some CI kernels boot without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], T], timeout_seconds: float = 10.0, interval_seconds: float = 0.05,
             what: str = "condition") -> T:
    """Poll until predicate returns something truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - readiness probes fail until ready
            last_exc = exc
        time.sleep(interval_seconds)
    raise AssertionError(f"timed out after {timeout_seconds}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


def http_get(url: str, timeout_seconds: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout_seconds) as resp:  # noqa: S310 - loopback only
        return resp.status, resp.read().decode("utf-8", "replace")


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Exposition text -> {name: [(labels, value), ...]} using prometheus-client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def metric_value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float | None:
    for sample_labels, value in metrics.get(name, []):
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


class NetwatchProcess:
    """`netwatch run -c CONFIG` as a real child process, stopped by PID at the end."""

    def __init__(self, config_path: Path, listen: str, cwd: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ("run",)) -> None:
        self.config_path = config_path
        self.listen = listen
        self.log_path = cwd / "netwatch.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netwatch", *args, "-c", str(config_path)],
            cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def base_url(self) -> str:
        return f"http://{self.listen}"

    def wait_ready(self, timeout_seconds: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"netwatch exited with {self.proc.returncode}:\n{self.log()}")
            return http_get(self.base_url + "/healthz", 1.0)[0] == 200

        wait_for(ready, timeout_seconds, 0.1, "netwatch /healthz")

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        return parse_metrics(http_get(self.base_url + "/metrics")[1])

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout_seconds: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def icmp_engines() -> list[str]:
    """The ICMP engines to run a test on: the Python loops always, the C loops when they are built."""
    from netwatch.net.icmp import engine_available
    return ["python", "c"] if engine_available() else ["python"]
