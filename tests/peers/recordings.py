"""Real device recordings (PyPI `snmpsim-data`, `.snmprec` walks) served on loopback, fast, for corpus tests.

snmpsim itself serves them too (`start_snmpsim`), but on this machine it answers ~15 ms per binding (its
only usable index is dbm.dumb), so a corpus of ~100 devices in CI's time budget is served by
`RecordingsAgent`: the scripted v2c agent of tests/peers/snmpresponder.py, one table per community (the
recording's name), in a child process so that net-snmp's command-line tools can ask it too."""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from netwatch.net.snmp import ber
from netwatch.net.snmp.oids import Oid
from tests.peers.snmpresponder import Responder

try:
    import snmpsim_data
    ROOT: Path | None = Path(snmpsim_data.__file__).resolve().parent / "data"
except ImportError:  # the test extra is not installed
    ROOT = None

# The subtrees netwatch's snmp probe reads: system, interfaces, hrStorage, hrProcessor, ifXTable.
KEEP = (b"1.3.6.1.2.1.1.", b"1.3.6.1.2.1.2.", b"1.3.6.1.2.1.25.2.3.", b"1.3.6.1.2.1.25.3.3.", b"1.3.6.1.2.1.31.1.1.")
_TAGS = {"2": ber.INTEGER, "4": ber.OCTET_STRING, "5": ber.NULL, "6": ber.OBJECT_ID, "64": ber.IP_ADDRESS,
         "65": ber.COUNTER32, "66": ber.GAUGE32, "67": ber.TIMETICKS, "68": ber.OPAQUE, "70": ber.COUNTER64}

Table = dict[Oid, tuple[int, ber.Value]]


def available() -> bool:
    return ROOT is not None and ROOT.is_dir()


def names() -> list[str]:
    """Every recording, as its path under the data root without the extension (network/switch/cisco-c3560)."""
    assert ROOT is not None
    out = []
    for path in sorted(ROOT.rglob("*.snmprec*")):
        rel = path.relative_to(ROOT).as_posix()
        out.append(rel.removesuffix(".bz2").removesuffix(".snmprec"))
    return out


def path_of(name: str) -> Path:
    assert ROOT is not None
    for suffix in (".snmprec", ".snmprec.bz2"):
        if (ROOT / (name + suffix)).exists():
            return ROOT / (name + suffix)
    raise FileNotFoundError(name)


def _value(tag_text: str, text: bytes) -> tuple[int, ber.Value] | None:
    hexed = tag_text.endswith("x")
    tag = _TAGS.get(tag_text.removesuffix("x"))
    if tag is None:             # a variation module (2:numeric, 4:writecache): not a recorded value
        return None
    raw = bytes.fromhex(text.decode("ascii")) if hexed else text
    if tag in (ber.OCTET_STRING, ber.OPAQUE):
        return tag, raw
    if tag == ber.IP_ADDRESS:
        return tag, raw if hexed else bytes(int(p) for p in raw.split(b"."))
    if tag == ber.OBJECT_ID:
        return tag, tuple(int(p) for p in raw.strip(b".").split(b".")) if raw else ()
    if tag == ber.NULL:
        return tag, None
    return tag, int(raw)


def load(name: str) -> Table:
    """The recording's system, interface and host-resources subtrees (a recording is sorted by OID, so
    reading stops after the ifXTable: the enterprise subtrees hold most of the lines)."""
    path = path_of(name)
    table: Table = {}
    opener: Any = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"1.3.6.1.2.1."):
                if not line.startswith(KEEP):
                    arcs = line.split(b".", 7)
                    if len(arcs) > 7 and arcs[6].isdigit() and int(arcs[6]) > 31:
                        break
                    continue
            elif line > b"1.3.6.1.2.1.32":    # past mib-2 (enterprises) in text order
                if not line.startswith(b"1.3.6.1.2.1"):
                    break
                continue
            else:
                continue
            oid_text, _, rest = line.rstrip(b"\r\n").partition(b"|")
            tag_text, _, value_text = rest.partition(b"|")
            try:
                cell = _value(tag_text.decode("ascii"), value_text)
            except ValueError:
                continue            # a malformed record: neither peer gets it
            if cell is not None:
                table[tuple(int(p) for p in oid_text.split(b"."))] = cell
    return table


def _serve(tables: dict[bytes, Table], conn: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        responders = {community: Responder(community=community, table=table) for community, table in tables.items()}

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                try:
                    community = ber.decode_head(data).community
                except ber.BerError:
                    return
                responder = responders.get(community)
                if responder is not None:
                    responder.answer(data, addr)

        transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
        for r in responders.values():
            r.transport = transport
        conn.send(transport.get_extra_info("sockname")[1])
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class RecordingsAgent:
    """A child process answering v2c for every loaded table; community = the key."""

    process: Any
    port: int

    def close(self) -> None:
        self.process.terminate()        # our own child, by its handle
        self.process.join(5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_agent(tables: dict[bytes, Table]) -> RecordingsAgent:
    ctx = multiprocessing.get_context("fork")   # the child inherits the loaded tables
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(tables, child), daemon=True)
    proc.start()
    if not parent.poll(30):
        proc.terminate()
        raise RuntimeError("recordings agent did not start")
    return RecordingsAgent(proc, parent.recv())


# ---------------------------------------------------------------- snmpsim itself

_SNMPSIM_MAIN = (
    "import dbm.dumb, encodings.latin_1, encodings.utf_8, encodings.ascii, encodings.idna\n"
    "import sys\n"
    "from snmpsim.commands.responder import main\n"
    "sys.exit(main())\n")


@contextlib.contextmanager
def snmpsim(recordings: Iterable[str], port: int, ready_seconds: float = 120.0) -> Iterator[None]:
    """Serve the named recordings with snmpsim-command-responder on 127.0.0.1:`port`; community = the
    recording's file name. As root, snmpsim drops to nobody and then cannot read Python's own files under
    a directory nobody may read: the modules it needs late are imported before it drops. Its data and
    cache live in a directory of their own under the system temp dir that nobody can reach (pytest's
    tmp_path is private to root)."""
    workdir = Path(tempfile.mkdtemp(prefix="nw_snmpsim_"))
    os.chmod(workdir, 0o755)
    data, cache = workdir / "data", workdir / "cache"
    data.mkdir()
    cache.mkdir()
    for name in recordings:
        src = path_of(name)
        dst = data / (Path(name).name + ".snmprec")
        with (bz2.open(src, "rb") if src.suffix == ".bz2" else open(src, "rb")) as fh, open(dst, "wb") as out:
            shutil.copyfileobj(fh, out)
    for path in (data, cache, *data.iterdir()):
        os.chmod(path, 0o777 if path == cache else 0o755 if path.is_dir() else 0o644)
    if os.geteuid() == 0:
        shutil.chown(cache, "nobody")
    cmd = [sys.executable, "-c", _SNMPSIM_MAIN, f"--data-dir={data}", f"--cache-dir={cache}",
           f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--log-level=error"]
    if os.geteuid() == 0:
        cmd += ["--process-user=nobody", "--process-group=nogroup"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = Path(next(iter(data.iterdir()))).name.removesuffix(".snmprec")
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            r = subprocess.run(["snmpget", "-v2c", "-c", first, "-t", "1", "-r", "0", f"127.0.0.1:{port}",
                                "1.3.6.1.2.1.1.1.0"], capture_output=True, env={**os.environ, "MIBS": ""})
            if r.returncode == 0:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"snmpsim exited with {proc.returncode}")
        else:
            raise RuntimeError("snmpsim did not answer in time (index building)")
        yield
    finally:
        proc.terminate()                # our own child, by its PID
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
