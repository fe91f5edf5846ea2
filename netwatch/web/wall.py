"""The NOC wall's extra facts on top of the board snapshot: site time, cause words, suspect/recovering, resolved."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from aiohttp import web

from netwatch.model import AlertPolicy, State
from netwatch.web import wording

if TYPE_CHECKING:
    from netwatch.alerting.state import CheckState
    from netwatch.web.services import Services

PROBLEM_STATES = frozenset({State.DOWN.value, State.UNREACHABLE.value, State.DEGRADED.value})
RESOLVED_LIMIT = 50


def resolved_incidents(services: "Services", now: float) -> list[dict[str, Any]]:
    """Paging incidents resolved within `board.recently_resolved` (default 30 minutes), newest first."""
    window_seconds = float(services.config().board.recently_resolved)
    if window_seconds <= 0:
        return []
    rows = services.incidents.list(("resolved",), RESOLVED_LIMIT)
    return [r for r in rows if r.get("resolved_at") and r["resolved_at"] >= now - window_seconds]


def site_clock(ts: float | None, tz: dt.tzinfo, with_date: bool = True) -> str:
    """An instant as the duty staff read it on the wall: `14:05:09 02/12` in the site's time zone."""
    if not ts:
        return ""
    d = dt.datetime.fromtimestamp(ts, tz)
    return d.strftime("%H:%M:%S %d/%m" if with_date else "%H:%M:%S")


def progress(view_state: "CheckState", policy: AlertPolicy, shown: str) -> dict[str, Any] | None:
    """Suspect (failing, not yet confirmed) or recovering (passing, not yet confirmed), with the count."""
    fails, oks = view_state.fail_streak, view_state.ok_streak
    if shown in (State.UP.value, State.DEGRADED.value, State.UNKNOWN.value) and 0 < fails < policy.fail_after:
        return {"phase": "suspect", "count": fails, "of": policy.fail_after}
    if shown == State.DOWN.value and 0 < oks < policy.recover_after:
        return {"phase": "recovering", "count": oks, "of": policy.recover_after}
    return None


def enrich(services: "Services", data: dict[str, Any], now: float, stored: Sequence[Mapping[str, Any]] = (),
           resolved: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Add what the wall shows beyond the board snapshot; pure apart from reading the live view."""
    config = services.config()
    tz = config.site.tz
    views_by_target: dict[str, list[Any]] = {}
    for view in list(services.live.views.values()):
        views_by_target.setdefault(view.check.target.id, []).append(view)
    for zone in data["zones"]:
        for tile in zone["tiles"]:
            tile["problem"] = tile["state"] in PROBLEM_STATES
            tile["since_text"] = site_clock(tile.get("since"), tz) if tile["problem"] else ""
            tile["security"] = False
            tile["words"] = wording.state_words(tile["state"])
            tile["progress"] = None
            if tile["state"] == State.UNKNOWN.value and tile.get("skipped"):
                tile["words"] = wording.cause("skipped")
            for view in views_by_target.get(tile["id"], []):
                outcome = view.result.outcome if view.result is not None else None
                st = view.state
                if (not st.fail_streak and st.state is not State.DOWN and outcome is not None and outcome.ok
                        and not outcome.degraded):
                    continue   # healthy and not failing: nothing to add (most tiles; keeps 5,000 targets cheap)
                shown = services.live.display_state(view, now).value
                if outcome is not None and not outcome.ok and wording.is_security(outcome.error):
                    tile["security"] = True
                if (shown == tile["state"] and outcome is not None and tile["words"] is None
                        and (not outcome.ok or outcome.degraded)):   # a healthy tile has nothing to say
                    tile["words"] = wording.cause(None if outcome.ok else outcome.error, outcome.degraded,
                                                  config.redact(outcome.detail or ""))
                found = progress(view.state, view.check.alert, shown)
                if found is not None and tile["progress"] is None:
                    tile["progress"] = found
                    if found["phase"] == "suspect" and view.state.error:
                        tile["words"] = wording.cause(view.state.error)
            if tile["security"]:
                # the tampering is the headline even when another check of the target also fails
                bad = [v.result.outcome for v in views_by_target.get(tile["id"], [])
                       if v.result is not None and not v.result.outcome.ok and wording.is_security(v.result.outcome.error)]
                tile["words"] = wording.cause(bad[0].error, None, config.redact(bad[0].detail or ""))
        zone["problems"] = sum(1 for t in zone["tiles"] if t["problem"])
        zone["healthy"] = sum(1 for t in zone["tiles"] if t["state"] == State.UP.value)
    by_id = {i["id"]: i for i in stored if i.get("id") is not None}
    for inc in data["incidents"]:
        row = by_id.get(inc.get("id"), {})
        inc["zone_name"] = config.zone_name(inc["zone"]) if inc.get("zone") else ""
        inc["since_text"] = site_clock(inc.get("since"), tz)
        inc["acked_at_text"] = site_clock(row.get("acked_at"), tz)
        inc["ack_note"] = config.redact(row.get("ack_note") or "")[:200]
        inc["security"] = row.get("category") == "security" or wording.is_security(inc.get("error"))
        # behind a dead parent the check's own timeout is a consequence: say so, as the tile does
        inc["words"] = (wording.state_words(inc["state"]) if inc["state"] == State.UNREACHABLE.value or not inc.get("error")
                        else wording.cause(inc.get("error"), None, inc.get("detail") or ""))
    data["resolved"] = [{
        "id": r["id"], "check": r.get("check"), "target": r.get("target"),
        "name": _target_name(config, r), "zone": r.get("zone") or "",
        "zone_name": config.zone_name(r["zone"]) if r.get("zone") else "",
        "since": r.get("since"), "since_text": site_clock(r.get("since"), tz),
        "resolved_at": r.get("resolved_at"), "resolved_text": site_clock(r.get("resolved_at"), tz),
        "duration_seconds": round(r["resolved_at"] - r["since"], 1) if r.get("since") else None,
        "acknowledged_by": r.get("acked_by"), "ack_note": config.redact(r.get("ack_note") or "")[:200],
        "security": r.get("category") == "security" or wording.is_security(r.get("error")),
        "words": wording.cause(r.get("error")),
    } for r in resolved]
    data["timezone"] = config.site.timezone
    data["clock_text"] = site_clock(now, tz)
    data["resolved_minutes"] = round(float(config.board.recently_resolved) / 60)
    return data


def _target_name(config: Any, row: Mapping[str, Any]) -> str:
    target = config.target(row["target"]) if row.get("target") else None
    if target is not None:
        return str(target.name or target.id)
    return str(row.get("title") or row.get("check") or "")



# The wall's own fonts (DejaVu: every Vietnamese diacritic), served by netwatch: the NOC may be offline.
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


async def font(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FONTS:
        raise web.HTTPNotFound()
    from netwatch.report.pdf import FONT_DIRS   # the same font files the PDF report embeds

    for directory in FONT_DIRS:
        path = Path(directory) / name
        if path.is_file():
            return web.FileResponse(path, headers={"Content-Type": "font/ttf"})
    raise web.HTTPNotFound()
