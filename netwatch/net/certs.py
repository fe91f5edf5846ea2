"""Certificate expiry thresholds shared by the HTTPS, SMTP and IMAP checks (warning and critical days)."""

from __future__ import annotations

import datetime as dt

from netwatch.fields import FieldError

DAY_SECONDS = 86400.0
DEFAULT_WARN_DAYS = 30
DEFAULT_CRITICAL_DAYS = 7


def validate_days(warn_days: int, critical_days: int) -> None:
    """For `__post_init__`: 0 switches a threshold off; critical must not exceed warning."""
    if warn_days < 0:
        raise FieldError("tls_warn_days", "must be 0 (off) or more")
    if critical_days < 0:
        raise FieldError("tls_critical_days", "must be 0 (off) or more")
    if warn_days and critical_days > warn_days:
        raise FieldError("tls_critical_days", f"must not be more than tls_warn_days ({warn_days})")


def judge_expiry(expiry_timestamp_seconds: float | None, now: float, warn_days: int,
                 critical_days: int) -> tuple[str | None, str | None, str]:
    """(error, degraded, detail) for a certificate that verified but ends soon.

    Inside the critical window the check fails with `tls_expiring`: the duty team must renew now,
    before visitors see browser warnings. Inside the warning window it is degraded only.
    """
    if expiry_timestamp_seconds is None:
        return None, None, ""
    left_days = (expiry_timestamp_seconds - now) / DAY_SECONDS
    when = dt.datetime.fromtimestamp(expiry_timestamp_seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if critical_days and left_days < critical_days:
        return "tls_expiring", None, f"certificate expires in {left_days:.1f} days ({when}), " \
                                     f"critical below {critical_days} days"
    if warn_days and left_days < warn_days:
        return None, "tls_cert_expiry", f"certificate expires in {left_days:.1f} days ({when}), " \
                                        f"warning below {warn_days} days"
    return None, None, ""
