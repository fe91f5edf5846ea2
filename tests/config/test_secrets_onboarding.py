"""Unset secrets are notes for `check` and errors for `run`; secret files are read safely."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netwatch.config import ConfigError, load
from netwatch.fields import Secret

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "venue.example.yaml"


def _example_vars() -> set[str]:
    lines = [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", "\n".join(lines)))


def _netwatch(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in _example_vars()}
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=120)


def test_example_checks_without_secrets_with_notes_and_fails_strict() -> None:
    names = _example_vars()
    assert len(names) >= 10
    out = _netwatch("--lang", "en", "check", "-c", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stdout.splitlines() if line.startswith("note: ")]
    assert "Channels: duty-chat (tgram, vi), duty-sms (jsons" in out.stdout   # summarised all the same
    for name in names:
        assert any(f"environment variable {name} is not set" in n for n in notes), name
    strict = _netwatch("--lang", "en", "check", "--strict", "-c", str(EXAMPLE))
    assert strict.returncode == 2
    errors = strict.stderr.strip().splitlines()
    # One cause, one error: only the unset variables, each once per place it is used.
    assert all("is not set" in e for e in errors), errors
    assert not any("apprise" in e or "too short" in e or "required" in e for e in errors)
    assert len(errors) == len(set(errors)) == len(notes)


def test_example_env_file_lists_every_variable_and_makes_strict_pass(tmp_path: Path) -> None:
    listed = {line.split("=", 1)[0] for line in (REPO / "config" / "venue.example.env").read_text().splitlines()
              if line and not line.startswith("#")}
    assert listed == _example_vars()
    values = {name: f"{name.lower()}-0123456789abcdef" for name in listed}
    values["TG_TOKEN"] = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    values["TG_CHAT_ID"] = "-1001234567890"
    out = _netwatch("--lang", "en", "check", "--strict", "-c", str(EXAMPLE), env=values)
    assert out.returncode == 0, out.stderr
    assert "note:" not in out.stdout
    for value in values.values():
        assert value not in out.stdout  # masked


def _venue(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "venue.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_run_refuses_an_unset_variable_once(tmp_path: Path) -> None:
    path = _venue(tmp_path, """\
        operators:
          - {name: an, role: operator, token: "${NW_TEST_UNSET_TOKEN}"}
        """)
    with pytest.raises(ConfigError) as err:
        load(str(path), env={})
    assert str(err.value) == (f"{path}:2:32: operators[0].token: environment variable NW_TEST_UNSET_TOKEN "
                              "is not set")
    config = load(str(path), env={}, strict=False)
    assert [n.message for n in config.notes] == [
        "environment variable NW_TEST_UNSET_TOKEN is not set (`run` and `check --strict` need it)"]
    env = {k: v for k, v in os.environ.items() if k != "NW_TEST_UNSET_TOKEN"}
    run = subprocess.run([sys.executable, "-m", "netwatch", "run", "-c", str(path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert run.returncode == 2
    assert "NW_TEST_UNSET_TOKEN is not set" in run.stderr and "Traceback" not in run.stderr


def test_missing_secret_file_is_an_unset_secret(tmp_path: Path) -> None:
    path = _venue(tmp_path, """\
        targets:
          - id: sw
            host: 127.0.0.1
            checks:
              - {kind: snmp, community_file: missing-community}
        """)
    config = load(str(path), env={}, strict=False)
    notes = [n for n in config.notes if "no zone" not in n.message]
    assert len(notes) == 1
    assert "secret file missing-community is not set" in notes[0].message
    with pytest.raises(ConfigError) as err:
        load(str(path), env={})
    assert len(err.value.problems) == 1
    assert "secret file missing-community is not set" in str(err.value)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "non_utf8", "directory", "too_large"])
def test_bad_secret_file_is_one_clear_error(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret"
    if kind == "fifo":
        os.mkfifo(secret)
    elif kind == "dev_zero":
        secret = Path("/dev/zero")
    elif kind == "non_utf8":
        secret.write_bytes(b"pass\xff\xfeword-s3cr3t")
    elif kind == "directory":
        secret.mkdir()
    else:
        secret.write_text("s3cr3t-" * 20_000)
    os.chmod(secret, 0o600) if kind != "dev_zero" else None
    path = _venue(tmp_path, f"""\
        operators:
          - {{name: an, role: operator, token_file: {secret}}}
        """)
    for strict in (True, False):
        with pytest.raises(ConfigError) as err:
            load(str(path), env={}, strict=strict)
        assert len(err.value.problems) == 1, err.value
        text = str(err.value)
        assert str(secret) in text and "s3cr3t" not in text
    out = _netwatch("check", "-c", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr and str(secret) in out.stderr


def test_group_readable_secret_file_warns(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("Xk3-9fQ2-LmP7-zR4t\n")
    os.chmod(secret, 0o644)
    path = _venue(tmp_path, f"""\
        operators:
          - {{name: an, role: operator, token_file: {secret}}}
        """)
    config = load(str(path), env={})
    assert len(config.notes) == 1 and "can be read by group or others" in config.notes[0].message
    assert "chmod 600" in config.notes[0].message
    out = _netwatch("--lang", "en", "check", "-c", str(path))
    assert out.returncode == 0 and "note: " in out.stdout and "Xk3-9fQ2" not in out.stdout
    os.chmod(secret, 0o600)
    assert load(str(path), env={}).notes == ()


def test_list_secrets_read_from_files_one_per_line(tmp_path: Path) -> None:
    urls = tmp_path / "urls"
    urls.write_text("# the duty chat\njson://127.0.0.1:9/hook?token=abcdef123456\n\n")
    communities = tmp_path / "communities"
    communities.write_text("c0mmunity-one\nc0mmunity-two\n")
    for f in (urls, communities):
        os.chmod(f, 0o600)
    path = _venue(tmp_path, f"""\
        traps: {{communities_file: {communities}}}
        channels:
          chat: {{urls_file: {urls}}}
        """)
    config = load(str(path), env={})
    assert config.paging.channels["chat"].urls == (Secret("json://127.0.0.1:9/hook?token=abcdef123456"),)
    assert config.traps is not None
    assert config.traps.communities == (Secret("c0mmunity-one"), Secret("c0mmunity-two"))
    out = _netwatch("check", "-c", str(path))
    assert out.returncode == 0, out.stderr
    assert "abcdef123456" not in out.stdout


async def test_header_file_sends_the_named_header_with_the_files_text(tmp_path: Path) -> None:
    from netwatch.probes import http
    from tests.peers import webservers

    token = tmp_path / "auth"
    token.write_text("Bearer hdr-s3cret-42\n")
    os.chmod(token, 0o600)
    site = await webservers.start_site()
    try:
        path = _venue(tmp_path, f"""\
            targets:
              - id: portal
                host: 127.0.0.1
                checks:
                  - kind: http
                    url: {site.url("/echo")}
                    headers: {{Authorization_file: {token}}}
            """)
        config = load(str(path), env={})
        check = config.checks[0]
        out = await http.probe(check.target, check.settings, 5.0)
        assert out.ok, out
        head = site.requests[-1].decode()
        assert "Authorization: Bearer hdr-s3cret-42\r\n" in head
        assert "Authorization_file" not in head and str(token) not in head
        assert "hdr-s3cret-42" not in config.redact("sent Bearer hdr-s3cret-42 to x")
    finally:
        await site.close()


def test_flow_step_header_file_is_refused_not_sent_literally(tmp_path: Path) -> None:
    path = _venue(tmp_path, """\
        targets:
          - id: motcua
            checks:
              - kind: http_flow
                steps:
                  - {url: "http://127.0.0.1:9/", headers: {Authorization_file: /etc/netwatch/auth}}
        """)
    with pytest.raises(ConfigError) as err:
        load(str(path), env={})
    assert "'Authorization_file': a step's headers are not read from files" in str(err.value)
