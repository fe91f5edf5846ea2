"""SNMPv3 against a real snmpd: rediscovery after the agent's engineID changes, and error classes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.model import Target
from netwatch.net.snmp import v3 as v3engine
from netwatch.probes import snmp
from tests.peers import snmpd as peers


def usm(**kw: object) -> snmp.Usm:
    return snmp.Usm(user=str(kw.pop("user", peers.V3_USER)), auth_key=Secret(peers.V3_AUTH),
                    priv_key=Secret(peers.V3_PRIV), **kw)  # type: ignore[arg-type]


def set_engine_id(agent: peers.Snmpd, engine_id: str) -> None:
    conf = agent.workdir / "snmpd.conf"
    lines = [line for line in conf.read_text().splitlines() if not line.startswith("engineID")]
    conf.write_text("\n".join([*lines, f"engineID {engine_id}"]) + "\n")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[peers.Snmpd]:
    if not peers.available():
        pytest.skip("net-snmp not installed")
    d = peers.Snmpd(tmp_path / "snmpd")
    set_engine_id(d, "netwatchOld")
    d.start()
    yield d
    d.stop()


async def test_a_replaced_agent_is_rediscovered_on_the_next_poll(agent: peers.Snmpd) -> None:
    target = Target("core", agent.host)
    settings = snmp.Settings(version="3", v3=usm(), port=agent.port)
    assert (await snmp.probe(target, settings, 2.0)).ok
    # The device is replaced (or reset): new engineID, boots and time start over.
    agent.stop()
    shutil.rmtree(agent.workdir / "persist")
    (agent.workdir / "persist").mkdir()
    set_engine_id(agent, "netwatchNew")
    agent.start()
    outcomes = [await snmp.probe(target, settings, 2.0) for _ in range(3)]
    # Before: every poll timed out until netwatch restarted. The poll that finds the stale engine may
    # still time out; the next one discovers the agent again.
    assert [o.ok for o in outcomes[1:]] == [True, True], [(o.error, o.detail) for o in outcomes]
    assert v3engine.engine().rediscoveries_total >= 1


async def test_a_security_level_the_agent_refuses_is_an_auth_error(agent: peers.Snmpd) -> None:
    # The agent serves this user only with privacy (rouser ... priv): a noAuthNoPriv request is refused
    # by access control, which is about credentials, not about the device answering.
    settings = snmp.Settings(version="3", port=agent.port, allow_insecure=True,
                             v3=snmp.Usm(user=peers.V3_USER, auth_protocol="none", priv_protocol="none"))
    out = await snmp.probe(Target("core", agent.host), settings, 2.0)
    assert (out.ok, out.error) == (False, "snmp_auth"), out.detail


def test_sha1_needs_allow_insecure() -> None:
    with pytest.raises(FieldError, match="SHA-1 authentication is refused"):
        snmp.Settings(version="3", v3=usm(auth_protocol="SHA"))
    assert snmp.Settings(version="3", v3=usm(auth_protocol="SHA"), allow_insecure=True).insecure == \
        "SHA-1 authentication"
