"""`netwatch probe`: run checks once, concurrently, and shape the results for people or scripts."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

from netwatch.i18n import Lang, t
from netwatch.live import expand
from netwatch.model import Check
from netwatch.probes import PROBES
from netwatch.runner import ProbeContexts, run_check


async def probe_all(checks: Sequence[Check], contexts: ProbeContexts | None = None) -> list[dict[str, Any]]:
    contexts = contexts if contexts is not None else ProbeContexts()
    limits = {kind: asyncio.Semaphore(p.concurrency) for kind, p in PROBES.items()}

    async def one(check: Check) -> list[dict[str, Any]]:
        async with limits[check.kind]:
            result = await run_check(check, PROBES[check.kind], context=contexts.for_check(check))
        return [{
            "check": c.id, "target": c.target.id, "kind": c.kind, "ok": r.outcome.ok,
            "error": r.outcome.error, "degraded": r.outcome.degraded, "detail": r.outcome.detail,
            "duration_seconds": round(r.duration_seconds, 6),
            "measurements": {k: v for k, v in r.outcome.measurements.items()},
        } for c, r, _ in expand(check, result)]

    rows: list[dict[str, Any]] = []
    for part in await asyncio.gather(*(one(c) for c in checks)):
        rows.extend(part)
    return rows


def render_table(rows: list[dict[str, Any]], lang: Lang, redact: Callable[[str], str]) -> str:
    header = (t("check", lang), t("kind", lang), t("result", lang), t("time", lang), t("error", lang))
    body = []
    for row in rows:
        verdict = t("fail", lang) if not row["ok"] else t("degraded", lang) if row["degraded"] else t("ok", lang)
        detail = row["error"] or row["degraded"] or ""
        if row["detail"]:
            detail = f"{detail}: {redact(row['detail'])}" if detail else redact(row["detail"])
        body.append((row["check"], row["kind"], verdict, f"{row['duration_seconds'] * 1000:.1f} ms", detail[:100]))
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:4], widths)) + "  " + header[4]]
    for r in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    failed = sum(1 for row in rows if not row["ok"])
    lines.append("")
    lines.append(t("summary_probe", lang, ok=len(rows) - failed, total=len(rows), failed=failed))
    return "\n".join(lines)
