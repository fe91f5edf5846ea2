"""A shipped Prometheus alert fires, the shipped Alertmanager routes it to netwatch's relay, netwatch pages a sink."""

from __future__ import annotations

import re

import urllib.error
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.deploy import stack
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, free_port, wait_for

pytestmark = pytest.mark.skipif(
    not (stack.available(stack.PROMETHEUS_BIN) and stack.available(stack.ALERTMANAGER_BIN)),
    reason="Debian prometheus and prometheus-alertmanager not installed")

RELAY_TOKEN = "relay-token-for-the-test-only"


def venue(sink: HttpSink) -> str:
    return f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: "Hội trường thử nghiệm"}}
zones: [{{id: hall, name: "Hội trường"}}]
channels:
  noc: {{urls: ["{sink.url('/noc')}"], group_wait: 0s}}
paging:
  alertmanager: {{token: "{RELAY_TOKEN}", notify: [noc]}}
defaults: {{interval: 1s, timeout: 500ms}}
targets:
  - id: sink
    host: 127.0.0.1
    zone: hall
    checks: [{{kind: tcp, port: {sink.port}}}]
"""


def alertmanager_config(netwatch: str, token_file: Path) -> dict[str, Any]:
    """The shipped alertmanager.yml, pointed at the test's netwatch, with the relay token and short waits."""
    config = yaml.safe_load(stack.ALERTMANAGER_CONFIG.read_text())
    relays = [hook for r in config["receivers"] for hook in r.get("webhook_configs", [])]
    assert relays and all(h["url"] == "http://127.0.0.1:9800/api/v1/alertmanager" for h in relays)
    for hook in relays:
        hook["url"] = f"http://{netwatch}/api/v1/alertmanager"
        hook.setdefault("http_config", {})["authorization"] = {"type": "Bearer",
                                                                "credentials_file": str(token_file)}
    for route in [config["route"], *config["route"].get("routes", [])]:
        route.update({"group_wait": "0s", "group_interval": "1s"})
    return config


def shipped_rules_without_waiting(directory: Path) -> list[str]:
    """The shipped rule files with every `for:` cut to 0s, so an alert fires on its first evaluation."""
    paths = []
    for path in sorted((stack.PROMETHEUS_DIR / "rules").glob("*.yml")):
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "0s"
        out = directory / path.name
        out.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
        paths.append(str(out))
    return paths


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    s = HttpSink().start()
    yield s
    s.stop()


@pytest.fixture
def daemons() -> Iterator[list[stack.Daemon]]:
    started: list[stack.Daemon] = []
    yield started
    for d in reversed(started):
        d.stop()


def test_prometheus_alert_reaches_the_sink_through_alertmanager_and_the_relay(
        netwatch_process: Callable[..., NetwatchProcess], sink: HttpSink, daemons: list[stack.Daemon],
        tmp_path: Path) -> None:
    nw = netwatch_process(venue(sink))

    # The relay refuses anyone without the token: the Alertmanager below must be sending it.
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.post_json(f"{nw.base_url}/api/v1/alertmanager", {"version": "4", "alerts": []})
    assert refused.value.code == 401

    token_file = tmp_path / "relay-token"
    token_file.write_text(RELAY_TOKEN)
    am = stack.Alertmanager(tmp_path / "alertmanager", alertmanager_config(nw.listen, token_file))
    daemons.append(am)
    am.wait_ready()

    # A second netwatch scrape target where nothing listens: up{job="netwatch"} == 0 fires NetwatchDown.
    dead = f"127.0.0.1:{free_port()}"
    config = stack.prometheus_config(nw.listen, alertmanager=am.address)
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [nw.listen, dead]
    config["rule_files"] = shipped_rules_without_waiting(tmp_path)
    prom = stack.Prometheus(tmp_path / "prometheus", config)
    daemons.append(prom)
    prom.wait_ready()

    def fired() -> bool:
        prom.alive()
        return any(a["labels"]["alertname"] == "NetwatchDown" and a["state"] == "firing" for a in prom.alerts())

    wait_for(fired, 30, 0.2, "NetwatchDown firing in prometheus")

    def paged() -> list[Any]:
        am.alive()
        return [r for r in sink.received if "NetwatchDown" in r.text]

    notices = wait_for(paged, 40, 0.2, "the NetwatchDown page at the sink")
    assert dead in notices[0].text
    assert RELAY_TOKEN not in notices[0].text
    # The healthy netwatch instance is not reported down.
    # (Notices carry an acknowledgement link on netwatch's own address: that is not a report about it.)
    texts = [re.sub(r"https?://\S+/ack/\S+", "", r.text) for r in sink.received]
    assert not any("NetwatchDown" in text and nw.listen in text for text in texts)
