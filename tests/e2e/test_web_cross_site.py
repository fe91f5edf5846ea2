"""Cross-site attacks from a real headless Chromium (issue 16.1 and 16.5): a page on another loopback origin
POSTs to every state-changing route, and a DNS-rebinding page reads the board under its own name."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support import NetwatchProcess, free_port, http_get

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                reason="needs Debian chromium and chromium-driver")

OPERATOR = "operator-token-0123456789abcdef"
REBOUND_NAME = "rebind.attacker.test"
# The documented default: loopback and, in this test, no relay token, so only the cross-site rules stand.
CONFIG = f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: cross-site}}
operators:
  - {{name: an, role: operator, token: "{OPERATOR}"}}
defaults: {{interval: 1h}}
targets:
  - {{id: web1, host: 127.0.0.1, checks: []}}
"""

ALERT = {"version": "4", "status": "firing", "alerts": [
    {"status": "firing", "labels": {"alertname": "Forged", "instance": "cross-site"}}]}
ATTACK_PAGE = """<!doctype html><html><body><script>
const target = "%(target)s", alert = %(alert)s;
const shots = [];
for (const path of ["/api/v1/alertmanager", "/api/v1/incidents/1/ack", "/api/v1/board/incidents/1/ack"]) {
  // The three shapes a page can send without a CORS preflight, and a JSON one (preflighted).
  shots.push(fetch(target + path, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                   body: JSON.stringify(alert)}).catch(() => null));
  shots.push(fetch(target + path, {method: "POST", mode: "no-cors", body: new URLSearchParams({a: "1"})})
             .catch(() => null));
  shots.push(fetch(target + path, {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(alert)}).catch(() => null));
}
const form = document.createElement("form");
form.method = "POST"; form.action = target + "/api/v1/alertmanager"; form.enctype = "text/plain";
form.target = "sink";
const field = document.createElement("input");
field.name = '{"version": "4", "alerts": [{"labels": {"alertname": "FormForged"}}], "x": "';
field.value = '"}';
form.appendChild(field);
document.body.appendChild(form);
Promise.all(shots).then(() => { form.submit(); document.title = "sent"; });
</script><iframe name="sink"></iframe></body></html>"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 # DNS rebinding without DNS: the attacker's name resolves to loopback inside this browser only.
                 f"--host-resolver-rules=MAP {REBOUND_NAME} 127.0.0.1",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def attacker() -> Iterator[Callable[[str], str]]:
    """A page on another loopback origin (127.0.0.2), served by a plain HTTP server."""
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port(host="127.0.0.2")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def publish(html: str) -> str:
        pages["/attack.html"] = html.encode()
        return f"http://127.0.0.2:{port}/attack.html"

    yield publish
    httpd.shutdown()
    httpd.server_close()


def incidents(nw: NetwatchProcess) -> list[dict[str, Any]]:
    status, body = http_get(nw.base_url + "/api/v1/incidents?state=open,acked,resolved")
    assert status == 200, body
    return list(json.loads(body)["incidents"])


def test_a_page_on_another_origin_cannot_page_people(netwatch_process: Callable[..., NetwatchProcess],
                                                      attacker: Callable[[str], str], browser: Any) -> None:
    nw = netwatch_process(CONFIG)
    url = attacker(ATTACK_PAGE % {"target": nw.base_url, "alert": json.dumps(ALERT)})
    browser.get(url)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20, 0.2).until(lambda d: d.title == "sent", "the attack page ran")
    time.sleep(1.0)   # the form's navigation is not awaited by the page: let it land
    assert incidents(nw) == []
    # The same relay still works for Alertmanager itself (no Origin, JSON).
    import urllib.request

    req = urllib.request.Request(nw.base_url + "/api/v1/alertmanager", data=json.dumps(ALERT).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        assert json.loads(resp.read()) == {"opened": 1, "resolved": 0}
    assert [i["title"] for i in incidents(nw)] == ["Forged cross-site"]
    assert "Traceback" not in nw.log()


def test_a_rebinding_page_cannot_read_the_board(netwatch_process: Callable[..., NetwatchProcess], browser: Any) -> None:
    nw = netwatch_process(CONFIG)
    port = nw.listen.rsplit(":", 1)[1]
    browser.get(f"http://{REBOUND_NAME}:{port}/api/v1/board")
    text = browser.find_element("tag name", "body").text
    assert "zones" not in text and "unknown Host" in text, text[:300]
    browser.get(f"http://localhost:{port}/api/v1/board")   # the names netwatch knows still work
    assert '"zones"' in browser.find_element("tag name", "body").text
