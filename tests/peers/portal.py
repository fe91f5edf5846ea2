"""A provincial portal and a one-stop service on loopback, served from a thread, that tests can deface."""

from __future__ import annotations

import http.server
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

PORTAL_HTML = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<title>Cổng thông tin điện tử tỉnh</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/site.js"></script>
<script src="https://cdn.portal.test/jquery.min.js"></script>
</head><body>
<div id="congress-banner"><img src="/static/banner.png" alt="Chào mừng Đại hội đại biểu Đảng bộ tỉnh"></div>
<div class="ticker">Tin mới lúc {clock}: thời tiết hôm nay nắng nhẹ</div>
<div class="date">Hôm nay: {date}</div>
<nav><ul><li><a href="/gioi-thieu">Giới thiệu</a></li><li><a href="/tin-tuc">Tin tức</a></li>
<li><a href="/dich-vu-cong">Dịch vụ công trực tuyến</a></li></ul></nav>
<main id="content">
<h1>Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV</h1>
<p>Đại hội diễn ra tại Hội trường Trung tâm Hội nghị tỉnh từ ngày 14 đến ngày 16 tháng 12.</p>
<p>Ban Tổ chức đề nghị các cơ quan, đơn vị bảo đảm an toàn, an ninh mạng 24/7 cho các hệ thống
thông tin phục vụ Đại hội, đặc biệt là Cổng thông tin điện tử và các trang thành viên.</p>
<p>Trung tâm báo chí phục vụ phóng viên trong nước và quốc tế tại tầng 2, khu B.</p>
<p>Người dân có thể tra cứu hồ sơ thủ tục hành chính tại hệ thống Một cửa điện tử của tỉnh.</p>
<form action="/tim-kiem" method="get"><input name="q"><button>Tìm kiếm</button></form>
</main>
<footer><p>Sở Thông tin và Truyền thông tỉnh. Địa chỉ: số 1 đường Trần Phú.</p></footer>
</body></html>
"""


def portal_page(clock: str = "08:00", date: str = "22/11/2026", **replace: str) -> str:
    """The portal's home page; `replace` maps exact snippets of it to their defaced versions."""
    html = PORTAL_HTML.format(clock=clock, date=date)
    for old, new in replace.items():
        assert old in html, old
        html = html.replace(old, new)
    return html


@dataclass
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Portal:
    """Serves `pages` by path; special paths: /endless, /huge, /slow, /echo and the one-stop flow."""

    context: ssl.SSLContext | None = None
    pages: dict[str, Page] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    user: str = "canbo"
    password: str = "mat-khau-1cua"

    def __post_init__(self) -> None:
        self.set("/", portal_page())
        portal = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                portal._handle(self, "GET")

            def do_POST(self) -> None:
                portal._handle(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.context is not None:
            self.server.socket = self.context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="portal",
                                       daemon=True)
        self.thread.start()

    @property
    def scheme(self) -> str:
        return "https" if self.context is not None else "http"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def set(self, path: str, html: str | bytes, status: int = 200,
            content_type: str = "text/html; charset=utf-8") -> None:
        self.pages[path] = Page(status, html.encode() if isinstance(html, str) else html, content_type)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- request handling (runs in the server's threads) ------------------------------------
    def _handle(self, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.requests.append((method, h.path, headers, body))
        path, _, query = h.path.partition("?")
        try:
            if path == "/endless":
                self._endless(h)
            elif path == "/huge":
                h.send_response(200)
                h.send_header("Content-Type", "text/html")
                h.send_header("Content-Length", str(64 << 20))
                h.end_headers()
                h.wfile.write(b"<html><body>" + b"x" * 65536)
            elif path == "/slow":
                time.sleep(float(urllib.parse.parse_qs(query).get("s", ["2"])[0]))
                self._send(h, Page(200, b"<html><body>slow</body></html>"))
            elif path == "/echo":
                text = "\n".join(f"{k}: {v}" for k, v in headers.items())
                self._send(h, Page(200, text.encode(), "text/plain; charset=utf-8"))
            elif path.startswith("/motcua"):
                self._one_stop(h, method, path, query, headers, body)
            else:
                self._send(h, self.pages.get(path) or Page(404, b"<html><body>not found</body></html>"))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    @staticmethod
    def _send(h: http.server.BaseHTTPRequestHandler, page: Page) -> None:
        h.send_response(page.status)
        h.send_header("Content-Type", page.content_type)
        h.send_header("Content-Length", str(len(page.body)))
        for k, v in page.headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(page.body)

    @staticmethod
    def _endless(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"<div>" + "Cổng thông tin ".encode() * 1000 + b"</div>"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.flush()

    def _one_stop(self, h: http.server.BaseHTTPRequestHandler, method: str, path: str, query: str,
                  headers: dict[str, str], body: bytes) -> None:
        """Một cửa điện tử: a login form, a session cookie and a dossier search behind it."""
        cookie = headers.get("cookie", "")
        session = next((c.split("=", 1)[1] for c in (p.strip() for p in cookie.split(";"))
                        if c.startswith("MOTCUA_SESSION=")), None)
        logged_in = session in self.sessions
        if path == "/motcua/" and method == "GET":
            token = secrets.token_hex(8)
            page = Page(200, ('<html><body><form action="/motcua/login" method="post">'
                              f'<input type="hidden" name="csrf" value="{token}">'
                              '<input name="user"><input name="password" type="password"></form></body></html>'
                              ).encode(), headers=(("Set-Cookie", f"MOTCUA_PRE={token}; Path=/motcua"),))
            self._send(h, page)
        elif path == "/motcua/login" and method == "POST":
            form = urllib.parse.parse_qs(body.decode())
            if form.get("user") == [self.user] and form.get("password") == [self.password]:
                sid = secrets.token_hex(16)
                self.sessions.add(sid)
                self._send(h, Page(303, b"", headers=(("Location", "/motcua/tra-cuu"),
                                                      ("Set-Cookie", f"MOTCUA_SESSION={sid}; Path=/motcua; HttpOnly"))))
            else:
                self._send(h, Page(401, "<html><body>Sai mật khẩu</body></html>".encode()))
        elif path == "/motcua/tra-cuu":
            if not logged_in:
                self._send(h, Page(302, b"", headers=(("Location", "/motcua/"),)))
                return
            code = urllib.parse.parse_qs(query).get("ma", [""])[0]
            if code == "HS-2026-0001":
                text = ('<html><body><h1>Tra cứu hồ sơ</h1><table><tr><td>Mã hồ sơ</td><td id="ma">HS-2026-0001</td>'
                        '</tr><tr><td>Trạng thái</td><td id="trang-thai">Đã tiếp nhận</td></tr></table></body></html>')
            else:
                text = "<html><body><h1>Tra cứu hồ sơ</h1><p>Nhập mã hồ sơ</p></body></html>"
            self._send(h, Page(200, text.encode()))
        elif path == "/motcua/away":
            target = urllib.parse.parse_qs(query).get("to", ["/echo"])[0]
            self._send(h, Page(302, b"", headers=(("Location", target),)))
        else:
            self._send(h, Page(404, b"not found"))
