"""Sign-in on the web side (issue 16.3): constant-time answers, limits per source and per account with a
growing delay that never passes a minute, an audit line and a metric per failure, and random tokens."""

from __future__ import annotations

import base64
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from netwatch.config import ConfigError, loads  # first: importing netwatch.alerting first is a circular import
from netwatch.alerting.operators import authenticate, hash_password
from netwatch.app import Monitor
from netwatch.config import tokens
from netwatch.store import Store
from netwatch.web import server
from netwatch.web.logins import MAX_DELAY_SECONDS, LoginLimiter, delay_seconds
from tests.support import REPO

OPERATOR = "operator-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"


def venue(tmp: Path, iterations: int = 1000) -> str:
    password = hash_password("mật khẩu trực ca", iterations=iterations)
    return f"""
listen: "0.0.0.0:9800"
store: {tmp / 'nw.db'}
board: {{viewer_token: {VIEWER}}}
targets:
  - {{id: portal, host: 127.0.0.1, checks: [{{kind: tcp, port: 9, interval: 1h}}]}}
operators:
  - {{name: an, token: {OPERATOR}}}
  - {{name: binh, password_hash: "{password}"}}
"""


def test_unknown_names_cost_what_wrong_passwords_cost(tmp_path: Path) -> None:
    """Before: an unknown name answered in 0.8 ms, a wrong password in 51 ms (the hash ran for known names)."""
    paging = loads(venue(tmp_path, iterations=100_000), str(tmp_path / "v.yaml")).paging

    def median_seconds(name: str) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert authenticate(paging, name=name, password="a wrong guess") is None
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    median_seconds("nobody")   # the dummy hash is made once, on first use
    unknown, known = median_seconds("nobody-at-all"), median_seconds("binh")
    assert 0.5 < unknown / known < 2.0, (unknown, known)
    assert authenticate(paging, name="binh", password="mật khẩu trực ca") is not None


def test_delay_grows_and_never_passes_a_minute() -> None:
    assert [delay_seconds(n) for n in range(1, 14)] == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    now = [1000.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    for _ in range(30):
        limiter.failed("10.0.0.9", "binh", "password")
        now[0] += 0.001
    # The account is blocked for guessers and for new places, at most a minute ...
    assert 59 < limiter.retry_after_seconds("10.0.0.7", "binh") <= MAX_DELAY_SECONDS
    # ... and asking while blocked does not extend it.
    for _ in range(100):
        limiter.retry_after_seconds("10.0.0.9", "binh")
    now[0] += MAX_DELAY_SECONDS + 0.1
    assert limiter.retry_after_seconds("10.0.0.7", "binh") == 0
    # Where the operator signed in before, guesses at the name do not block them.
    limiter.succeeded("10.0.0.5", "binh")
    for _ in range(30):
        limiter.failed("10.0.0.9", "binh", "password")
    assert limiter.retry_after_seconds("10.0.0.5", "binh") == 0 and limiter.retry_after_seconds("10.0.0.7", "binh") > 0
    assert limiter.failed_total == {"password": 60}


@pytest.fixture
async def exposed(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Monitor]]:
    config = loads(venue(tmp_path), str(tmp_path / "venue.yaml"))
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    yield client, monitor
    await client.close()
    monitor.store.close()


async def test_token_guessing_is_throttled_audited_and_counted(exposed: tuple[TestClient, Monitor]) -> None:
    """Before: ~8,000 bearer-token guesses a second, no limit, no audit line."""
    client, monitor = exposed
    statuses = []
    for i in range(8):
        resp = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer guess-{i:020d}"})
        statuses.append(resp.status)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses
    resp = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60   # this source waits, even right
    rows = monitor.store.conn.execute("SELECT who, action, source FROM audit").fetchall()
    assert 5 <= len(rows) <= 7 and all(r[1] == "login_failed" and r[2].startswith("http:127.0.0.1") for r in rows)
    metrics = await (await client.get("/metrics")).text()
    assert f'netwatch_web_login_failures_total{{credential="token"}} {float(len(rows))}' in metrics
    assert f"netwatch_web_logins_throttled_total {float(9 - len(rows))}" in metrics


async def test_password_guessing_is_audited_with_the_name(exposed: tuple[TestClient, Monitor]) -> None:
    client, monitor = exposed
    basic = base64.b64encode("binh:sai\n".encode()).decode()
    resp = await client.post("/api/v1/incidents/1/ack", json={}, headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 401
    assert monitor.store.conn.execute("SELECT who, action FROM audit").fetchall() == [("binh", "login_failed")]


@pytest.mark.parametrize("token", ["0123456789abcdef", "aaaaaaaaaaaaaaaaaaaa", "Password12345678", "short-7Hq2"])
def test_guessable_tokens_are_refused_at_load(tmp_path: Path, token: str) -> None:
    for text in (f"operators: [{{name: an, token: {token}}}]\n",
                 f"board: {{viewer_token: {token}}}\n",
                 f"paging: {{alertmanager: {{token: {token}}}}}\n"):
        with pytest.raises(ConfigError) as err:
            loads(text, "v.yaml", {})
        message = str(err.value)
        assert message.startswith("v.yaml:1:") and "netwatch operator token" in message and token not in message


def test_operator_token_command_makes_strong_distinct_tokens() -> None:
    made = [subprocess.run([sys.executable, "-m", "netwatch", "operator", "token"], capture_output=True, text=True,
                           cwd=REPO, check=True).stdout.strip() for _ in range(2)]
    assert made[0] != made[1] and all(len(t) >= 40 and tokens.weakness(t) is None for t in made)
    loads(f"operators: [{{name: an, token: {made[0]}}}]\n", "v.yaml", {})
