"""The simulated congress venue: its devices, websites and mail servers, and the netwatch config for them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import yaml

from netwatch.lab import snmpagent
from netwatch.lab.certs import LabPki
from netwatch.lab.servers import DEFACED_MARKER, PORTAL_MARKER, BannerServer, WebSite, close_all

log = logging.getLogger(__name__)

COMMUNITY = "netwatch-lab"
# Slower than this, a website is degraded; the scenario's web_slow delays sit between this and the
# fast demo's timeout (0.8 s), so the same script shows "degraded" in both modes.
WEB_WARN_SECONDS = 0.3

ZONES: tuple[tuple[str, str], ...] = (
    ("core", "Lõi mạng & đường truyền"),
    ("hall", "Hội trường"),
    ("rooms", "Phòng họp Tổ"),
    ("press", "Trung tâm báo chí"),
    ("hotel", "Nơi ăn nghỉ đại biểu"),
    ("egov", "Chính quyền điện tử"),
)


@dataclass(frozen=True)
class DeviceSpec:
    id: str
    name: str
    zone: str
    recording: str
    uplink: str                      # ifName of the interface watched as the device's uplink
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class PingSpec:
    id: str
    name: str
    zone: str
    address: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """A TCP service behind a device (a Wi-Fi access point's management port)."""

    id: str
    name: str
    zone: str
    depends_on: tuple[str, ...]


_ACCESS = {"hall": ("dist-sw-1", "cisco-c3560", "Gi0/49"), "rooms": ("dist-sw-1", "cisco-c3560", "Gi0/49"),
           "press": ("dist-sw-2", "cisco-c3560", "Gi0/49"), "hotel": ("dist-sw-2", "aruba-7210", "GE0/0/0")}

DEVICES: tuple[DeviceSpec, ...] = (
    DeviceSpec("core-router", "Router lõi", "core", "huawei-s5720", "XGigabitEthernet0/0/1"),
    DeviceSpec("dist-sw-1", "Switch phân phối 1", "core", "cisco-c3560", "Gi0/49", ("core-router",)),
    DeviceSpec("dist-sw-2", "Switch phân phối 2", "core", "cisco-c3560", "Gi0/49", ("core-router",)),
    DeviceSpec("wlc", "Bộ điều khiển Wi-Fi", "core", "cisco-controller", "GigabitEthernet0/0/1", ("dist-sw-1",)),
    *(DeviceSpec(f"{z}-sw", f"Switch truy nhập {n}", z, rec, up, (dist,))
      for (z, n) in ZONES if z in _ACCESS for dist, rec, up in [_ACCESS[z]]),
)

_ROLES = {"core-router": "router", "wlc": "wifi-controller"}

PINGS: tuple[PingSpec, ...] = (
    PingSpec("uplink-vnpt", "Đường truyền Internet VNPT", "core", "127.10.0.1"),
    PingSpec("uplink-viettel", "Đường truyền Internet Viettel", "core", "127.10.0.2"),
    PingSpec("tsldcd", "Mạng truyền số liệu chuyên dùng", "core", "127.10.0.3"),
    *(PingSpec(f"{z}-gw", f"Gateway {n}", z, f"127.20.{i}.1", (_ACCESS[z][0],))
      for i, (z, n) in enumerate(ZONES) if z in _ACCESS),
)

SERVICES: tuple[ServiceSpec, ...] = tuple(
    ServiceSpec(f"{z}-ap{k}", f"Wi-Fi AP {k} {n}", z, (f"{z}-sw",))
    for (z, n) in ZONES if z in _ACCESS for k in (1, 2))

HTTPS_SITES = frozenset({"portal", "portal-stttt"})
SITES: tuple[tuple[str, str], ...] = (
    ("portal", "Cổng thông tin điện tử tỉnh"),
    ("portal-stttt", "Trang thành viên Sở Thông tin và Truyền thông"),
    ("motcua", "Hệ thống Một cửa điện tử"),
    ("dvc", "Dịch vụ công trực tuyến"),
    ("qlvb", "Quản lý văn bản và điều hành"),
)


@dataclass
class Lab:
    """Every lab endpoint, started together on loopback; scenario actions change their behaviour."""

    trap_to: tuple[str, int] | None = None
    pki: LabPki | None = None          # given: the portal and its member site are served over HTTPS
    agents: dict[str, snmpagent.Agent] = field(default_factory=dict)
    mgmt: dict[str, BannerServer] = field(default_factory=dict)
    services: dict[str, BannerServer] = field(default_factory=dict)
    sites: dict[str, WebSite] = field(default_factory=dict)
    mail: dict[str, BannerServer] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> "Lab":
        for d in DEVICES:
            agent = snmpagent.device(d.recording, d.id, COMMUNITY.encode(), trap_to=self.trap_to)
            self.agents[d.id] = await agent.start(self.address(d.id))
            self.mgmt[d.id] = await BannerServer(d.id, "ssh", host=self.address(d.id)).start()
        for s in SERVICES:
            self.services[s.id] = await BannerServer(s.id, "ssh", host=self.address(s.id)).start()
        for sid, title in SITES:
            tls = self.pki.server_context() if self.pki is not None and sid in HTTPS_SITES else None
            self.sites[sid] = await WebSite(sid, title, tls=tls).start()
        self.mail["smtp"] = await BannerServer("mail", "smtp").start()
        self.mail["imap"] = await BannerServer("mail", "imap").start()
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for agent in self.agents.values():
            agent.close()
        await close_all([*self.mgmt.values(), *self.services.values(), *self.sites.values(), *self.mail.values()])

    @staticmethod
    def address(lab_id: str) -> str:
        """Each device and access point has a loopback address of its own, as on a real network: the
        trap receiver tells devices apart by the sender's address."""
        for i, d in enumerate(DEVICES):
            if d.id == lab_id:
                return f"127.30.0.{i + 1}"
        for i, s in enumerate(SERVICES):
            if s.id == lab_id:
                return f"127.31.0.{i + 1}"
        return "127.0.0.1"

    def ids(self) -> set[str]:
        """Every device, site and target id a scenario may name."""
        return ({d.id for d in DEVICES} | {p.id for p in PINGS} | {s.id for s in SERVICES}
                | {sid for sid, _ in SITES} | {f"mail-{m}" for m in ("smtp", "imap")})

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ faults

    def _device(self, device_id: str) -> DeviceSpec:
        for d in DEVICES:
            if d.id == device_id:
                return d
        raise KeyError(f"no lab device {device_id!r} (devices: {', '.join(d.id for d in DEVICES)})")

    def _behind(self, device_id: str) -> list[str]:
        """Every device and service that reaches the network only through this device."""
        out: list[str] = []
        frontier = [device_id]
        while frontier:
            parent = frontier.pop()
            for d in DEVICES:
                if parent in d.depends_on and d.id not in out:
                    out.append(d.id)
                    frontier.append(d.id)
            for s in SERVICES:
                if parent in s.depends_on and s.id not in out:
                    out.append(s.id)
        return out

    async def isolate(self, device_id: str, isolated: bool = True) -> None:
        """The device's uplink goes down: it stops answering, and so does everything behind it."""
        d = self._device(device_id)
        agent = self.agents[device_id]
        # Repair from the far end inwards, so no probe sees the device back while what is behind it is not.
        for other in self._behind(device_id) if not isolated else ():
            await self._answer(other, True)
        agent.silent = isolated
        agent.set_oper(agent.index_of(d.uplink), not isolated)   # back up: a linkUp trap goes out
        self.mgmt[device_id].blackhole = isolated
        for other in self._behind(device_id) if isolated else ():
            await self._answer(other, False)

    async def _answer(self, lab_id: str, up: bool) -> None:
        """Hosts behind a dead link do not refuse connections: their packets vanish (timeouts)."""
        if lab_id in self.agents:
            self.agents[lab_id].silent = not up
            self.mgmt[lab_id].blackhole = not up
        else:
            self.services[lab_id].blackhole = not up

    async def reboot(self, device_id: str, down_seconds: float) -> None:
        """Silent while it boots, then back with sysUpTime from zero (and a coldStart trap)."""
        agent = self.agents[self._device(device_id).id]
        agent.silent = True
        await self.mgmt[device_id].set_up(False)    # the box itself is up to ARP but its services are not
        await asyncio.sleep(down_seconds)
        agent.silent = False
        agent.reboot()
        await self.mgmt[device_id].set_up(True)

    async def flap(self, device_id: str, interface: str, times: int, every_seconds: float) -> None:
        """An interface goes down and up `times` times; a link that flaps takes its AP with it."""
        agent = self.agents[self._device(device_id).id]
        index = agent.index_of(interface)
        behind = [s for s in self._behind(device_id) if s in self.services]
        for _ in range(times):
            agent.set_oper(index, False)
            for s in behind[:1]:
                self.services[s].blackhole = True
            await asyncio.sleep(every_seconds / 2)
            agent.set_oper(index, True)
            for s in behind[:1]:
                self.services[s].blackhole = False
            await asyncio.sleep(every_seconds / 2)

    def website(self, site_id: str, mode: str, status: int = 500, reason: str = "",
                delay_seconds: float = 0.0) -> None:
        site = self.sites.get(site_id)
        if site is None:
            raise KeyError(f"no lab website {site_id!r} (sites: {', '.join(self.sites)})")
        site.mode, site.error_status, site.error_reason, site.delay_seconds = mode, status, reason, delay_seconds

    def mail_delay(self, delay_seconds: float) -> None:
        for server in self.mail.values():
            server.delay_seconds = delay_seconds

    # ------------------------------------------------------------ the netwatch config for this lab

    def config(self, listen: str, store: str, interval_seconds: float, kinds: set[str],
               icmp_pages: bool = True) -> dict[str, Any]:
        """A venue config (as data) monitoring this lab; kinds not registered fall back to tcp checks.
        `icmp_pages = False` records ICMP results without paging (when this user may not ping)."""
        timeout = max(0.5, min(5.0, 0.8 * interval_seconds))
        targets: list[dict[str, Any]] = []
        for p in PINGS:
            check: dict[str, Any] = {"kind": "icmp", "count": 2, "interval_between": "50ms"}
            if not icmp_pages:
                check["alert"] = {"notify": []}
            # Labels the Grafana boards select on: links are `role: uplink`, zone gateways `role: gateway`.
            role = "gateway" if p.depends_on else "uplink"
            targets.append({"id": p.id, "name": p.name, "zone": p.zone, "host": p.address,
                            "depends_on": list(p.depends_on), "labels": {"role": role}, "checks": [check]})
        for d in DEVICES:
            if "snmp" in kinds:
                check = {"kind": "snmp", "community": COMMUNITY, "port": self.agents[d.id].port, "retries": 0,
                         "watch": {"names": [d.uplink]}, "export_interfaces": "watched"}
            else:
                check = {"kind": "tcp", "port": self.mgmt[d.id].port, "expect": "^SSH-2.0"}
            targets.append({"id": d.id, "name": d.name, "zone": d.zone, "host": self.address(d.id),
                            "depends_on": list(d.depends_on), "labels": {"model": d.recording, "role": _ROLES.get(d.id, "switch")},
                            "checks": [check]})
        for s in SERVICES:
            targets.append({"id": s.id, "name": s.name, "zone": s.zone, "host": self.address(s.id),
                            "depends_on": list(s.depends_on),
                            "checks": [{"kind": "tcp", "port": self.services[s.id].port, "expect": "^SSH-2.0"}]})
        for sid, title in SITES:
            site = self.sites[sid]
            tls = {"ca_file": str(self.pki.ca_file)} if site.tls is not None and self.pki is not None else {}
            checks = [{"kind": "http", "url": site.url, "must_contain": [PORTAL_MARKER],
                       "warn_response_seconds": f"{WEB_WARN_SECONDS * 1000:g}ms", **tls}]
            if "web_integrity" in kinds:
                checks.append({"kind": "web_integrity", "url": site.url, **tls})
            else:
                checks[0]["must_not_contain"] = [DEFACED_MARKER]
            targets.append({"id": sid, "name": title, "zone": "egov", "host": "127.0.0.1",
                            "labels": {"system": sid}, "checks": checks})
        mail_checks: dict[str, dict[str, Any]] = {
            "smtp": ({"kind": "smtp", "port": self.mail["smtp"].port, "tls": "none", "helo": "netwatch.lab"}
                     if "smtp" in kinds else {"kind": "tcp", "port": self.mail["smtp"].port, "expect": "^220 "}),
            # the imap probe logs in, and refuses a password in clear text; the lab has no TLS, so: the greeting
            "imap": {"kind": "tcp", "port": self.mail["imap"].port, "expect": r"^\* OK"},
        }
        for mid, name in (("smtp", "Thư công vụ (SMTP)"), ("imap", "Thư công vụ (IMAP)")):
            targets.append({"id": f"mail-{mid}", "name": name, "zone": "egov", "host": "127.0.0.1",
                            "labels": {"system": "mail"}, "checks": [mail_checks[mid]]})
        config: dict[str, Any] = {
            "site": {"name": "Đại hội đại biểu Đảng bộ tỉnh — phòng lab netwatch", "timezone": "Asia/Ho_Chi_Minh"},
            "listen": listen,
            "store": store,
            "defaults": {"interval": f"{interval_seconds:g}s", "timeout": f"{timeout:g}s",
                         "alert": {"fail_after": 2, "recover_after": 2}},
            "zones": [{"id": z, "name": n} for z, n in ZONES],
            "targets": targets,
        }
        if self.trap_to is not None:
            config["traps"] = {"listen": self.trap_to[0], "port": self.trap_to[1], "communities": [COMMUNITY]}
        return config


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=120)
