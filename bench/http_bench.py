"""HTTP probe throughput: netwatch's http probe vs prometheus-blackbox-exporter on a loopback target.

Run: python bench/http_bench.py [--probes 1000] [--concurrency 50] [--rounds 3]

Every probe opens a fresh connection (no keep-alive across probes). The target is a small C
epoll server (compiled here with gcc) in its own process, so it is cheap and the same for both
sides; without gcc a Python asyncio server in a subprocess stands in. Figures: probes/s and CPU
seconds per 1,000 probes for netwatch (this process) and the exporter (its /proc stats; the
driver that calls /probe is measured separately). The best of `--rounds` rounds is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.model import Target  # noqa: E402
from netwatch.probes import http  # noqa: E402

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
# The exporter's module file, written by the bench itself (the repository stands alone): http_2xx as Debian
# ships it, IPv4 first like netwatch's probes of an address.
BLACKBOX_MODULES = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""


def blackbox_config(directory: Path) -> str:
    """Write the exporter's module file into `directory` and return its path."""
    path = directory / "blackbox.yml"
    path.write_text(BLACKBOX_MODULES)
    return str(path)

TARGET_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
static const char R[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
                        "Connection: close\r\n\r\nhello, probe\n";
int main(int argc, char **argv) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) { perror("bind"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    char buf[8192];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0 && memmem(buf, r, "\r\n\r\n", 4)) {
                ssize_t w = write(fd, R, sizeof R - 1);
                (void)w;
                close(fd);
            } else if (r == 0 || (r < 0 && errno != EAGAIN)) {
                close(fd);
            }
        }
    }
}
"""

TARGET_PY = r"""
import asyncio, sys
R = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello, probe\n"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.b = b""
    def data_received(self, d):
        self.b += d
        if b"\r\n\r\n" in self.b: self.t.write(R); self.t.close()
async def main():
    s = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await s.serve_forever()
asyncio.run(main())
"""


TLS_TARGET_PY = r"""
import asyncio, ssl, sys
R = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello, probe\n"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.b = b""
    def data_received(self, d):
        self.b += d
        if b"\r\n\r\n" in self.b: self.t.write(R); self.t.close()
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=4096, ssl=ctx)
    await s.serve_forever()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_target(workdir: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    if shutil.which("gcc"):
        src, exe = workdir / "target.c", workdir / "target"
        src.write_text(TARGET_C)
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
        proc = subprocess.Popen([str(exe), str(port)])
        kind = "C epoll server"
    else:
        proc = subprocess.Popen([sys.executable, "-c", TARGET_PY, str(port)])
        kind = "Python asyncio server"
    wait_listening(port, proc)
    return proc, port, kind


async def run_many(total: int, concurrency: int, one: "callable") -> tuple[float, int]:
    """Run `one()` total times with `concurrency` workers; returns (wall seconds, failures)."""
    remaining = total
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            if not await one():
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, failures


async def bench_netwatch(url: str, total: int, concurrency: int) -> tuple[float, float, int]:
    settings = http.Settings(url=url)
    target = Target(id="bench", host="127.0.0.1")

    async def one() -> bool:
        out = await http.probe(target, settings, 5.0)
        return out.ok

    cpu = time.process_time()
    wall, failures = await run_many(total, concurrency, one)
    return total / wall, (time.process_time() - cpu) * 1000 / total, failures


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (the common web server key today), for the TLS target."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = workdir / "tls.crt", workdir / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def bench_https_probe(workdir: Path, total: int, concurrency: int, rounds: int) -> list[tuple[float, float, int]]:
    """netwatch's http probe on an https URL (TLS 1.3, certificate verified against its own CA file) to
    a Python TLS server in another process: no peer in this run, the client's own cost per result."""
    cert_file, key_file = make_certificate(workdir)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", TLS_TARGET_PY, str(port), str(cert_file), str(key_file)])
    try:
        wait_listening(port, server)
        settings = http.Settings(url=f"https://127.0.0.1:{port}/", ca_file=str(cert_file))
        target = Target(id="bench", host="127.0.0.1")

        async def one() -> bool:
            return (await http.probe(target, settings, 5.0)).ok

        await run_many(100, concurrency, one)
        out = []
        for _ in range(rounds):
            cpu = time.process_time()
            wall, failures = await run_many(total, concurrency, one)
            out.append((total / wall, (time.process_time() - cpu) * 1000 / total, failures))
        return out
    finally:
        server.terminate()
        server.wait(5)


async def bench_aiohttp(url: str, total: int, concurrency: int) -> tuple[float, float, int]:
    """The alternative we measured: aiohttp with fresh connections and a TraceConfig for phases."""
    import aiohttp

    trace = aiohttp.TraceConfig()

    async def mark(session: object, ctx: object, params: object) -> None:
        ctx.last = time.perf_counter()  # type: ignore[attr-defined]

    for signal in (trace.on_request_start, trace.on_connection_create_start, trace.on_connection_create_end,
                   trace.on_request_end):
        signal.append(mark)
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        async def one() -> bool:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                body = await resp.content.read(1 << 20)
                return resp.status == 200 and len(body) > 0

        cpu = time.process_time()
        wall, failures = await run_many(total, concurrency, one)
    return total / wall, (time.process_time() - cpu) * 1000 / total, failures


async def bench_blackbox(exporter_port: int, exporter_pid: int, target_url: str, total: int,
                         concurrency: int) -> tuple[float, float, float, int]:
    import aiohttp

    probe_url = f"http://127.0.0.1:{exporter_port}/probe"
    params = {"module": "http_2xx", "target": target_url}
    # The driver keeps its 50 connections to the exporter alive: only exporter->target is fresh.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> bool:
            async with session.get(probe_url, params=params) as resp:
                text = await resp.text()
                return "probe_success 1" in text

        cpu_exporter = proc_cpu_seconds(exporter_pid)
        cpu_driver = time.process_time()
        wall, failures = await run_many(total, concurrency, one)
        exporter_ms = (proc_cpu_seconds(exporter_pid) - cpu_exporter) * 1000 / total
        driver_ms = (time.process_time() - cpu_driver) * 1000 / total
    return total / wall, exporter_ms, driver_ms, failures


async def bench_stages(url: str, total: int, concurrency: int, workdir: Path) -> dict[str, float]:
    """CPU per HTTP result, stage by stage, in this process, on the daemon's own objects: the probe,
    the runner's wrapper around it, the result's way through ResultPath.handle (live view, paging
    decision, recorder hand-off) and the recorder's store write (SQLite, its writer thread
    included). The scheduler's task per run is not in it (`bench/result_cost_bench.py` measures the
    whole daemon for ICMP)."""
    from netwatch.config import loads  # first: importing netwatch.alerting first is a circular import
    from netwatch.app import Monitor
    from netwatch.clustering import checks_here
    from netwatch.probes import PROBES
    from netwatch.runner import run_check
    from netwatch.store import Store

    n_checks = 50
    config = loads(f"store: {workdir / 'stages.db'}\ntargets:\n" + "".join(
        f"  - {{id: w{i}, host: 127.0.0.1, checks: [{{kind: http, url: \"{url}s{i}\"}}]}}\n" for i in range(n_checks)),
        str(workdir / "stages.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    try:
        checks = [c for c in checks_here(config, None) if c.kind == "http"]
        kind = PROBES["http"]
        results: list = []
        stages: dict[str, float] = {}

        async def probe_only() -> bool:
            c = checks[len(results) % n_checks]
            results.append(None)
            return (await kind.probe(c.target, c.settings, c.timeout_seconds, None)).ok

        async def fetch_only() -> bool:
            c = checks[len(results) % n_checks]
            results.append(None)
            s = c.settings
            response = await http.httpclient.fetch(s.parsed_url, method=s.method, max_body_bytes=s.max_body_bytes,
                                                   keep_body=s.checks_body, max_redirects=s.max_redirects)
            return response.status == 200

        # Interleaved halves, so the machine's noise hits both alike.
        fetch_cpu = probe_cpu = 0.0
        for _ in range(2):
            cpu = time.process_time()
            await run_many(total // 2, concurrency, fetch_only)
            fetch_cpu += time.process_time() - cpu
            cpu = time.process_time()
            await run_many(total // 2, concurrency, probe_only)
            probe_cpu += time.process_time() - cpu
        stages["client: net/http.py fetch (connect, request, response)"] = fetch_cpu / total
        stages["probe wrapper: probes/http.py around fetch"] = (probe_cpu - fetch_cpu) / total
        results.clear()
        # The runner's wrapper alone: the same checks through run_check with a probe that returns at
        # once the outcome a real probe gave (so only its deadline timer, the clock reads and the Result).
        sample = await kind.probe(checks[0].target, checks[0].settings, 5.0, None)

        async def instant(target: object, settings: object, timeout_seconds: float, context: object = None):  # type: ignore[no-untyped-def]
            return sample

        fake = dataclasses.replace(kind, probe=instant)
        cpu = time.process_time()
        for i in range(total):
            c = checks[i % n_checks]
            results.append((c, await run_check(c, fake)))
        stages["runner.run_check around it"] = (time.process_time() - cpu) / total
        cpu = time.process_time()
        for c, r in results:
            monitor.path.handle(c, r)
        stages["ResultPath.handle (live view, decision, recorder hand-off)"] = (time.process_time() - cpu) / total
        cpu = time.process_time()
        await monitor.recorder.flush()
        stages["store write (recorder.flush, SQLite)"] = (time.process_time() - cpu) / total
        return stages
    finally:
        monitor.store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-aiohttp", action="store_true", help="skip the aiohttp comparison")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown of a result")
    parser.add_argument("--no-https", action="store_true", help="skip the https probe's own cost")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nw_http_bench_") as tmp:
        target, target_port, target_kind = start_target(Path(tmp))
        exporter_port = free_port()
        exporter = subprocess.Popen(
            [BLACKBOX, f"--web.listen-address=127.0.0.1:{exporter_port}", f"--config.file={blackbox_config(Path(tmp))}",
             "--log.level=error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(exporter_port, exporter)
            url = f"http://127.0.0.1:{target_port}/"
            print(f"target: {target_kind} at {url}; {args.probes} probes at concurrency {args.concurrency}, "
                  f"best of {args.rounds} rounds; {os.cpu_count()} CPUs")
            # Warm up all paths (Go runtime, Python imports, TLS contexts are not used here).
            await bench_netwatch(url, 200, args.concurrency)
            await bench_blackbox(exporter_port, exporter.pid, url, 200, args.concurrency)
            nw: list[tuple[float, float, int]] = []
            bb: list[tuple[float, float, float, int]] = []
            ah: list[tuple[float, float, int]] = []
            for _ in range(args.rounds):
                nw.append(await bench_netwatch(url, args.probes, args.concurrency))
                bb.append(await bench_blackbox(exporter_port, exporter.pid, url, args.probes, args.concurrency))
                if not args.no_aiohttp:
                    ah.append(await bench_aiohttp(url, args.probes, args.concurrency))
            for i in range(args.rounds):
                line = (f"round {i + 1}: netwatch {nw[i][0]:7.0f}/s ({nw[i][1]:.3f} ms CPU/probe, {nw[i][2]} failed)"
                        f" | blackbox {bb[i][0]:7.0f}/s ({bb[i][1]:.3f} ms exporter CPU/probe,"
                        f" driver {bb[i][2]:.3f} ms, {bb[i][3]} failed)")
                if ah:
                    line += f" | aiohttp {ah[i][0]:7.0f}/s ({ah[i][1]:.3f} ms CPU/probe, {ah[i][2]} failed)"
                print(line)
            best_nw = max(nw)
            best_bb = max(bb)
            print(f"netwatch http probe : {best_nw[0]:8.0f} probes/s, {best_nw[1]:.3f} ms CPU per probe")
            print(f"blackbox exporter   : {best_bb[0]:8.0f} probes/s, {best_bb[1]:.3f} ms exporter CPU per probe")
            if ah:
                best_ah = max(ah)
                print(f"aiohttp (reference) : {best_ah[0]:8.0f} probes/s, {best_ah[1]:.3f} ms CPU per probe")
            print(f"ratio netwatch/blackbox probes per second: {best_nw[0] / best_bb[0]:.2f} (target >= 1.5)")
            print(f"ratio blackbox/netwatch CPU per probe    : {best_bb[1] / best_nw[1]:.2f}")
            if not args.no_https:
                # A TLS handshake per probe costs far more than the rest: fewer probes, same rounds.
                https = await bench_https_probe(Path(tmp), max(args.probes // 4, 100), args.concurrency, args.rounds)
                cpu_ms = sorted(r[1] for r in https)[len(https) // 2]
                print(f"https probe (TLS 1.3, P-256, verified; Python TLS target): median {cpu_ms:.3f} ms CPU per "
                      f"probe over {len(https)} rounds of {max(args.probes // 4, 100)}, "
                      f"{sum(r[2] for r in https)} failed (no peer measured on https)")
            if not args.no_stages:
                # Median of the rounds per stage; blackbox's best CPU per probe as the yardstick.
                rounds = [await bench_stages(url, args.probes, args.concurrency, Path(tmp)) for _ in range(args.rounds)]
                exporter_ms = min(b[1] for b in bb)
                print(f"\nCPU per HTTP result, by stage (median of {args.rounds} rounds), against blackbox's "
                      f"{exporter_ms:.3f} ms exporter CPU per probe:")
                total_ms = 0.0
                for name in rounds[0]:
                    ms = sorted(r[name] for r in rounds)[len(rounds) // 2] * 1000
                    total_ms += ms
                    print(f"  {name:58s} {ms * 1000:6.0f} us  {ms / exporter_ms:5.2f}x")
                print(f"  {'whole result (sum)':58s} {total_ms * 1000:6.0f} us  {total_ms / exporter_ms:5.2f}x"
                      f"   (goal <= 0.35x)")
        finally:
            for proc in (exporter, target):
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    asyncio.run(main())
