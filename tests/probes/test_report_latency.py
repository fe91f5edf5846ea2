"""The latency that history and reports keep per kind is the measurement an engineer means (issue 17,
point 12): for ICMP the echo round trip, not the duration of the whole burst of echoes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

from netwatch.model import Result, Target
from netwatch.probes import PROBES, icmp
from netwatch.recorder import Recorder
from netwatch.fields import Duration

LATENCY = {kind: p.latency for kind, p in PROBES.items()}


def test_every_kind_names_a_latency_it_measures() -> None:
    for kind, probe in PROBES.items():
        assert probe.latency is None or probe.latency in probe.measurements, kind
    assert LATENCY["icmp"] == "rtt_avg_seconds"


def _fping_avg_seconds(host: str, count: int) -> float:
    out = subprocess.run(["fping", "-c", str(count), "-p", "20", "-q", host], capture_output=True, text=True,
                         timeout=30)
    m = re.search(r"min/avg/max = [\d.]+/([\d.]+)/", out.stderr + out.stdout)
    assert m, out.stderr
    return float(m.group(1)) / 1000


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("fping"), reason="raw ICMP needs root; fping is the peer")
async def test_icmp_report_latency_is_the_round_trip_not_the_burst() -> None:
    settings = icmp.Settings(count=5, interval_between=Duration(0.05))
    started = time.perf_counter()
    outcome = await icmp.probe(Target(id="lo", host="127.0.0.1"), settings, 5.0)
    duration = time.perf_counter() - started
    assert outcome.ok, outcome
    result = Result("lo/icmp", "lo", "icmp", time.time(), duration, outcome)
    # The recorder only reads its latency map here; no store is touched.
    latency = Recorder(None, 0, LATENCY, 1.0, 1.0).latency_of(result)  # type: ignore[arg-type]
    known = _fping_avg_seconds("127.0.0.1", 5)       # the known RTT of this machine's loopback
    assert duration >= 0.2                            # 5 echoes 50 ms apart: the old "latency"
    assert latency is not None and latency < 0.005, latency
    assert abs(latency - known) < 0.002, (latency, known)
