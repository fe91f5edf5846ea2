"""Log lines, tracebacks included, are redacted; chatty HTTP libraries stay muted at DEBUG; reload re-keys."""

from __future__ import annotations

import logging

import pytest

from netwatch import logs

SECRET = "tok3nValue9876abc"
ROTATED = "rotatedTok3n5432zz"


def _redact(*secrets: str):  # type: ignore[no-untyped-def]
    def redact(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "********")
        return text
    return redact


@pytest.fixture(autouse=True)
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("DEBUG", _redact(SECRET))
    try:
        raise ValueError(f"InvalidURL http://127.0.0.1:9/send?token={SECRET}")
    except ValueError:
        logging.getLogger("netwatch.notify.outbox").exception("channel worker failed")
    err = capsys.readouterr().err
    assert "InvalidURL" in err and "********" in err
    assert SECRET not in err


def test_http_libraries_do_not_log_request_paths_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("DEBUG", _redact())
    logging.getLogger("urllib3.connectionpool").debug('http://127.0.0.1:9 "POST /hooks/%s HTTP/1.1" 500 2', SECRET)
    logging.getLogger("apprise").debug("Loaded URL: mmost://127.0.0.1/%s", SECRET)
    logging.getLogger("netwatch.app").debug("still here")
    err = capsys.readouterr().err
    assert "still here" in err
    assert SECRET not in err


def test_a_reload_masks_the_new_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("INFO", _redact(SECRET))
    logs.set_redaction(_redact(SECRET, ROTATED))
    logging.getLogger("netwatch.app").info("token %s then %s", SECRET, ROTATED)
    err = capsys.readouterr().err
    assert SECRET not in err and ROTATED not in err


def test_log_lines_carry_the_site_time_with_its_offset() -> None:
    import zoneinfo

    formatter = logs.RedactingFormatter("%(asctime)s %(message)s", lambda t: t, zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))
    record = logging.LogRecord("netwatch", logging.INFO, __file__, 1, "ok", None, None)
    record.created = 1_796_000_000.25   # 2026-11-30 00:53:20.250 UTC
    assert formatter.format(record) == "2026-11-30 07:53:20.250+07:00 ok"
