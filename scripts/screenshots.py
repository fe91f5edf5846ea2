"""Screenshots of the NOC wall (demo venue, a 200- and a 500-target venue, a phone, stale data) and of the report.

Usage: python scripts/screenshots.py [--out screenshots] [--only wall200|wall500|demo]

Everything runs on loopback: a real `netwatch run` (or `netwatch demo --fast`) and Debian's headless
chromium driven by selenium. The PNGs land in --out, named after what they show.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netwatch.lab import bigvenue  # noqa: E402
from netwatch.lab.venue import dump  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listener() -> tuple[socket.socket, int]:
    """A TCP port on loopback that accepts (and drops) every connection: the healthy switches' peer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock, int(sock.getsockname()[1])


def browser(width: int, height: int, mobile: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height,
                                                                                "pixelRatio": 1.0}})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(width, height)
    return driver


def viewport(driver: Any, width: int, height: int) -> None:
    """Make the page's viewport (not the window) exactly width x height."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))


def wait(predicate: Callable[[], Any], timeout_seconds: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the page is still loading
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(what)


def run_netwatch(config_text: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    listen = f"127.0.0.1:{free_port()}"
    path = workdir / "venue.yaml"
    path.write_text(config_text.replace("{listen}", listen).replace("{store}", str(workdir / "nw.db")))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "run", "-c", str(path)], cwd=workdir, env=env,
                            stdout=open(workdir / "netwatch.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://{listen}"
    wait(lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200, 30, "netwatch up")
    return proc, base


def shoot_big(out: Path, targets: int, zones: int, name: str) -> None:
    sock, up = listener()
    down = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        text = dump(bigvenue.config("{listen}", "{store}", up, down, targets, zones, 5))
        proc, base = run_netwatch(text, Path(tmp))
        driver = browser(1920, 1080)
        try:
            viewport(driver, 1920, 1080)
            driver.get(base + "/board")
            faulty = bigvenue.faulty_ids(targets, zones, 5)
            wait(lambda: all(driver.find_element("css selector", f'.tile[data-target="{t}"]').get_attribute(
                "data-state") == "down" for t in faulty), 60, "faults on the wall")
            time.sleep(1)
            driver.save_screenshot(str(out / f"{name}-1920x1080.png"))
            driver.get(base + "/board?lang=en&view=problems")
            time.sleep(2)
            driver.save_screenshot(str(out / f"{name}-problems-only.png"))
            if targets <= 200:
                phone = browser(412, 915, mobile=True)
                try:
                    phone.get(base + "/board")
                    wait(lambda: phone.find_elements("css selector", ".inc"), 30, "incidents on the phone")
                    time.sleep(1)
                    phone.save_screenshot(str(out / f"{name}-phone-412.png"))
                finally:
                    phone.quit()
                driver.get(base + "/board")
                time.sleep(3)
                proc.terminate()
                proc.wait(15)
                time.sleep(4)
                driver.save_screenshot(str(out / f"{name}-stale.png"))
        finally:
            driver.quit()
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
            sock.close()


def shoot_demo(out: Path) -> None:
    """The demo venue's wall during `netwatch demo --fast` (a press-centre outage, a portal error, a defacement...),
    then the báo cáo of that run: PDF pages as PNG (poppler) in both languages and the HTML in chromium."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "netwatch", "demo", "--fast", "--plain", "--listen",
                                 f"127.0.0.1:{port}", "--out", tmp], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver = browser(1920, 1080)
        try:
            viewport(driver, 1920, 1080)
            base = f"http://127.0.0.1:{port}"
            wait(lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200, 60, "demo up")
            driver.get(base + "/board")
            start = time.monotonic()
            for at in (10, 16, 24, 32, 40, 48):
                time.sleep(max(0.0, at - (time.monotonic() - start)))
                driver.save_screenshot(str(out / f"wall-demo-t{at:02d}s.png"))
            proc.wait(120)   # the demo ends by itself after its script
            config = Path(tmp) / "demo-venue.yaml"
            for lang in ("vi", "en"):
                for fmt in ("pdf", "html"):
                    report = Path(tmp) / f"report-{lang}.{fmt}"
                    subprocess.run([sys.executable, "-m", "netwatch", "report", "-c", str(config), "--lang", lang,
                                    "-o", str(report)], cwd=tmp, env=env, check=True)
                subprocess.run(["pdftoppm", "-png", "-r", "80", str(Path(tmp) / f"report-{lang}.pdf"),
                                str(out / f"report-{lang}-page")], check=True)
                driver.get((Path(tmp) / f"report-{lang}.html").as_uri())
                time.sleep(1)
                driver.save_screenshot(str(out / f"report-{lang}-html.png"))
        finally:
            driver.quit()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--only", choices=["wall200", "wall500", "demo"], action="append",
                        help="demo: the demo venue's wall and the báo cáo of that run (PDF pages, HTML)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    todo = args.only or ["wall200", "wall500", "demo"]
    if "wall200" in todo:
        shoot_big(out, 200, 10, "wall-200")
    if "wall500" in todo:
        shoot_big(out, 500, 20, "wall-500")
    if "demo" in todo:
        shoot_demo(out)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
