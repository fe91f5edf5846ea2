"""Real Prometheus and Alertmanager processes on loopback, configured from the shipped files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO, free_port, wait_for

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
PROMETHEUS_DIR = REPO / "config" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "config" / "alertmanager" / "alertmanager.yml"
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"


def available(binary: str) -> bool:
    return shutil.which(binary) is not None


def prometheus_config(netwatch: str, alertmanager: str | None = None, interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml with short intervals and the test's own addresses."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update({"scrape_interval": interval, "evaluation_interval": interval,
                             "scrape_timeout": interval})
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "netwatch"]
    assert jobs, "the shipped prometheus.yml must scrape a job named netwatch"
    for static in jobs[0]["static_configs"]:
        static["targets"] = [netwatch]
    config["scrape_configs"] = jobs
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    return config


def get_json(url: str, timeout_seconds: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_seconds) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


def post_json(url: str, body: Any, timeout_seconds: float = 5.0) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_seconds) as resp:  # noqa: S310 - loopback only
        text = resp.read()
        return json.loads(text) if text else None


class Daemon:
    """A child process stopped by its own PID; its output goes to a log file for failure messages."""

    def __init__(self, cmd: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args[0]} exited with {self.proc.returncode}:\n{self.log()}")
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Prometheus(Daemon):
    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.address = f"127.0.0.1:{free_port()}"
        super().__init__([PROMETHEUS_BIN, f"--config.file={self.config_path}",
                          f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address={self.address}",
                          "--log.level=warn"], workdir / "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def wait_ready(self, timeout_seconds: float = 30.0) -> None:
        def ready() -> bool:
            self.alive()
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:  # noqa: S310
                return resp.status == 200

        wait_for(ready, timeout_seconds, 0.1, "prometheus /-/ready")

    def query(self, expr: str) -> dict[str, Any]:
        """Instant query; returns the API's `data` ({resultType, result}); raises on a parse error."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = get_json(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{expr!r}: {exc.code} {exc.read().decode(errors='replace')}") from None
        assert body["status"] == "success", body
        return body["data"]

    def series_count(self, expr: str) -> int:
        data = self.query(expr)
        if data["resultType"] in ("scalar", "string"):
            return 1
        return len(data["result"])

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = [("match[]", match)] if match else []
        url = f"{self.url}/api/v1/label/{urllib.parse.quote(label)}/values?" + urllib.parse.urlencode(params)
        return sorted(v for v in get_json(url)["data"] if v)

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in get_json(self.url + "/api/v1/rules")["data"]["groups"] for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        return get_json(self.url + "/api/v1/alerts")["data"]["alerts"]


class Alertmanager(Daemon):
    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.address = f"127.0.0.1:{free_port()}"
        super().__init__([ALERTMANAGER_BIN, f"--config.file={self.config_path}",
                          f"--storage.path={workdir / 'data'}", f"--web.listen-address={self.address}",
                          "--cluster.listen-address=", "--log.level=warn"], workdir / "alertmanager.log")

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def wait_ready(self, timeout_seconds: float = 30.0) -> None:
        def ready() -> bool:
            self.alive()
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:  # noqa: S310
                return resp.status == 200

        wait_for(ready, timeout_seconds, 0.1, "alertmanager /-/ready")


# ------------------------------------------------------------------ dashboards

_VAR_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
_LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.S)
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")

# Grafana's built-in variables, as Grafana fills them for a 6 h view with a 15 s scrape interval.
BUILTINS = {"__range": "6h", "__range_s": "21600", "__interval": "15s", "__rate_interval": "1m",
            "__interval_ms": "15000"}


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))   # collapsed rows carry their panels inside
    return out


def regex_value(values: list[str]) -> str:
    """A multi-value selection as Grafana writes it into a regex matcher, escaped for a PromQL string."""
    escaped = [_RE2_SPECIAL.sub(r"\\\1", v).replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VAR_RE.sub(repl, expr)


# Variables whose label only a cluster exports (docs/cluster.md): a single node's series carry no `site`, so
# the variable has no values there and the dashboards rely on its "All" (allValue .*).
EMPTY_ON_ONE_NODE = {"site"}


def resolve_variables(prom: Prometheus, dashboard: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Fill each query variable, in order, with every real value Prometheus knows (like 'All' picked by hand)."""
    values = dict(BUILTINS)
    found: dict[str, list[str]] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        definition = var.get("definition") or var["query"]["query"]
        m = _LABEL_VALUES_RE.match(definition)
        assert m, f"variable {var['name']}: only label_values(...) queries are supported: {definition!r}"
        match = substitute(m.group("match"), values) if m.group("match") else None
        real = prom.label_values(m.group("label"), match)
        if not real and var["name"] in EMPTY_ON_ONE_NODE and var.get("includeAll") and var.get("allValue"):
            # Grafana's default "All" interpolates allValue (.*), which also matches a series without the label.
            found[var["name"]], values[var["name"]] = ["$__all"], var["allValue"]
            continue
        found[var["name"]] = real
        values[var["name"]] = regex_value(real) if real else "__no_value__"
    return values, found
