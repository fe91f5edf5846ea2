"""A lean HTTP/1.1 client for probing: one fresh connection per request, exact phase timings, hard caps."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import ssl
import codecs
import functools
import time
import unicodedata
import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from netwatch.net import redirects
from netwatch.net import tls as tlsinfo
from netwatch.net.cookies import CookieJar
from netwatch.net.tcp import Failure, connect_failure, is_address, resolve

try:  # brotli is a declared dependency; without it `br` is simply not offered
    import brotli as _brotli
except ImportError:  # pragma: no cover
    _brotli = None

# curl accepts a 300 KB head and Go 1 MB (10 MB by default in its transport); embedded web servers and
# portals behind several proxies send heads past 64 KiB. 256 KiB still bounds memory per probe.
MAX_HEAD_BYTES = 256 * 1024
# curl and Go set no count limit (only a size limit); this one only stops absurd heads of tiny lines.
MAX_HEADERS = 2000
# A compressed body may expand to at most this many times max(body cap, 1 MiB): real HTML compresses
# 5-10 x, a decompression bomb 1000 x.
MAX_DECODED_RATIO = 16
ACCEPT_ENCODING = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"
MAX_CHUNK_LINE_BYTES = 1024
# One recv per readable event: a small page and its FIN arrive in one read.
READ_BYTES = 64 * 1024
USER_AGENT = "netwatch/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers whose framing meaning this client owns; a configured value would desynchronise it.
RESERVED_HEADERS = frozenset({"connection", "content-length", "transfer-encoding", "host"})

_STATUS_RE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9]{2})(?:[ \t]([^\r\n]*))?")
# End of a head: an empty line, whether lines end in CRLF or a bare LF (embedded servers send LF only).
_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT_RE = re.compile(rb"\r?\n")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~?"
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _CLOSE, _DONE = range(8)


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str        # ASCII (IDNA) host without brackets
    port: int
    target: str      # request-target: path and query, percent-encoded

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host.lower(), self.port

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"

    @property
    def shown(self) -> str:
        """For details and logs: the query string often carries an API key, so it is left out."""
        path, sep, _ = self.target.partition("?")
        return f"{self.scheme}://{self.authority}{path}" + ("?…" if sep else "")


def parse_url(text: str) -> Url:
    """Parse an http(s) URL; raises ValueError with a sentence saying what is wrong."""
    if any(ch in text for ch in "\r\n\t "):
        raise ValueError("must not contain spaces or line breaks")
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme or (scheme not in ("http", "https") and not parts.netloc and parts.path[:1].isdigit()):
        # `portal.gov.vn/x` (no scheme) or `portal.gov.vn:8443/x` (the host read as a scheme)
        raise ValueError(f"no scheme: add https:// (or http://), e.g. https://{text.strip()}")
    if scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are supported, not {scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL are not supported; use headers with a secret")
    host = parts.hostname
    if not host:
        raise ValueError("has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ValueError("has a bad port") from None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("has a host name that is not valid IDNA") from None
    path = urllib.parse.quote(parts.path or "/", safe=_SAFE_PATH)
    query = urllib.parse.quote(parts.query, safe=_SAFE_PATH) if parts.query else ""
    return Url(scheme, host, port, path + ("?" + query if query else ""))


@dataclass
class Trace:
    """What happened so far; phase sums cover every hop of a redirect chain."""

    phase: str = "start"
    url: str = ""
    dns_seconds: float = 0.0
    connect_seconds: float = 0.0
    tls_seconds: float = 0.0
    first_byte_seconds: float = 0.0
    redirects: int = 0
    body_bytes: int = 0
    cert_expiry_timestamp_seconds: float | None = None
    peer_address: str = ""   # the address the last hop actually connected to (for the redirect policy)


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    body_bytes: int               # bytes on the wire (compressed, if it was)
    url: Url
    trace: Trace = field(repr=False, default_factory=Trace)
    content_encoding: str = ""    # the coding the body was decoded from ("" for none)
    truncated: bool = False       # reading stopped at the cap of a check that does not look at the body

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def settle(fut: "asyncio.Future[Any]", value: Any) -> bool:
    """Set `fut`'s result from a protocol callback unless it is done already: the caller's timeout may
    cancel it between the data's arrival and this call, and set_result would raise InvalidStateError
    inside the event loop's transport ("Fatal error on SSL protocol")."""
    if fut.done():
        return False
    fut.set_result(value)
    return True


def parse_fields(lines: Sequence[bytes]) -> list[tuple[str, str]]:
    """Header lines read as leniently as curl, Go and browsers: obsolete line folding is unfolded (RFC 9112
    5.2 says a client must), whitespace between a name and its colon is dropped. A line without a colon
    is still refused: nothing can be made of it."""
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise Failure("protocol", f"bad header line {line[:80]!r}")
            name, value = headers[-1]
            folded = line.strip(b" \t").decode("latin-1")
            headers[-1] = (name, f"{value} {folded}" if value and folded else value or folded)
            continue
        raw_name, sep, value = line.partition(b":")
        raw_name = raw_name.rstrip(b" \t")
        if not sep or not raw_name or b" " in raw_name or b"\t" in raw_name:
            raise Failure("protocol", f"bad header line {line[:80]!r}")
        if len(headers) >= MAX_HEADERS:
            raise Failure("protocol", f"more than {MAX_HEADERS} response headers")
        headers.append((raw_name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    return headers


class _Decoder:
    """Decodes a gzip, deflate or br body as it arrives; fails `decompression_bomb` once the output would
    pass `limit` bytes, so a bomb costs no more memory than the limit."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.out_bytes = 0
        self._br = _brotli.Decompressor() if coding == "br" and _brotli is not None else None
        # 32 + 15: zlib or gzip header, whichever comes (some servers label a zlib stream gzip)
        self._z: Any = None if self._br is not None else zlib.decompressobj(47)
        self._sniffed = coding != "deflate"

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        data = bytes(data)
        if not data:
            return b""
        if not self._sniffed:
            self._sniffed = True
            # "deflate" should be zlib-wrapped (RFC 9110 8.4.1.2); old IIS sends raw deflate, which
            # browsers accept too. A zlib header is CMF/FLG with the check bits right.
            if len(data) < 2 or (data[0] & 0x0F) != 8 or (data[0] << 8 | data[1]) % 31:
                self._z = zlib.decompressobj(-15)
        room = self.limit - self.out_bytes
        try:
            if self._br is not None:
                out = self._br.process(data, output_buffer_limit=room + 1)
            else:
                out = self._z.decompress(data, room + 1)
        except (zlib.error, Exception) as exc:  # brotli.error is a plain Exception subclass
            raise Failure("protocol", f"body is not valid {self.coding}: {str(exc)[:80]}") from None
        if len(out) > room:
            raise Failure("decompression_bomb",
                          f"{self.coding} body expands past {self.limit} bytes (a decompression bomb)")
        self.out_bytes += len(out)
        return out


def decoder_for(headers: Sequence[tuple[str, str]], limit: int) -> _Decoder | None:
    """A decoder for the response's Content-Encoding, or None (identity, or a coding not offered: then
    the body is matched as it came, as a browser would fail to show it)."""
    codings = [c.strip().lower() for k, v in headers if k == "content-encoding" for c in v.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) != 1:
        return None
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if coding in ("gzip", "deflate") or (coding == "br" and _brotli is not None):
        return _Decoder(coding, limit)
    return None


class _ResponseReader(asyncio.Protocol):
    """Parses one response as bytes arrive; keeps at most `max_body_bytes` of the body."""

    def __init__(self, head_request: bool, max_body_bytes: int, keep_body: bool) -> None:
        loop = asyncio.get_running_loop()
        self.head_request = head_request
        self.max_body_bytes = max_body_bytes
        self.keep_body = keep_body
        self.transport: asyncio.Transport | None = None
        self.head: asyncio.Future[tuple[int, str, list[tuple[str, str]]]] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.buffer = bytearray()
        self.state = _HEAD
        self.remaining = 0
        self.body = bytearray()
        self.body_bytes = 0
        self.trailer_bytes = 0
        self.first_byte_at = 0.0
        self.sent_at = 0.0       # when the request went out (set by whoever writes it)
        self.decoder: _Decoder | None = None
        self.truncated = False
        self._scanned = 0        # head bytes already searched for the empty line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.first_byte_at:
            self.first_byte_at = time.perf_counter()
        if self.state == _DONE:
            return
        try:
            if self.state == _HEAD:
                self.buffer += data
                self._parse_head()
            elif self.state == _CLOSE:
                self._append(data)
            elif self.state == _LENGTH:
                self._take_length(data)
            else:
                self.buffer += data
                self._parse_chunks()
        except Failure as failure:
            self._fail(failure)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost then decides

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state == _DONE:
            return
        if self.state == _CLOSE:
            self._finish()
            return
        how = "reset" if isinstance(exc, ConnectionResetError) else "closed"
        if self.state == _HEAD:
            if not self.buffer and not self.first_byte_at:
                self._fail(Failure("protocol", f"server {how} the connection without answering"))
            else:
                self._fail(Failure("protocol", f"connection {how} inside the response head"))
        elif self.state == _LENGTH:
            self._fail(Failure("protocol", f"connection {how} after {self.body_bytes} body bytes, "
                                           f"{self.remaining} short of Content-Length"))
        else:
            self._fail(Failure("protocol", f"connection {how} inside a chunked body"))

    def _fail(self, failure: Failure) -> None:
        self.state = _DONE
        if self.transport is not None:
            self.transport.abort()
        for fut in (self.head, self.done):
            if not fut.done():
                fut.set_exception(failure)
                fut.exception()  # marks it retrieved: the caller may never await `done` (a redirect)

    def _finish(self) -> None:
        self.state = _DONE
        settle(self.done, None)

    def _parse_head(self) -> None:
        while self.state == _HEAD:
            if len(self.buffer) >= 5 and not self.buffer.startswith(b"HTTP/"):
                raise Failure("protocol", f"not an HTTP response: {bytes(self.buffer[:60])!r}")
            found = _HEAD_END_RE.search(self.buffer, max(0, self._scanned - 3))
            if found is None:
                self._scanned = len(self.buffer)
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise Failure("protocol", f"response head larger than {MAX_HEAD_BYTES} bytes")
                return
            end, after = found.span()
            if end > MAX_HEAD_BYTES:
                raise Failure("protocol", f"response head larger than {MAX_HEAD_BYTES} bytes")
            lines = _LINE_SPLIT_RE.split(bytes(self.buffer[:end]))
            del self.buffer[:after]
            self._scanned = 0
            match = _STATUS_RE.fullmatch(lines[0].rstrip(b" \t"))
            if not match:
                raise Failure("protocol", f"bad status line {lines[0][:80]!r}")
            status = int(match.group(1))
            reason = (match.group(2) or b"").decode("latin-1")
            headers = parse_fields(lines[1:])
            if 100 <= status < 200:
                if status == 101:
                    raise Failure("protocol", "server switched protocols unasked (101)")
                continue  # interim response (100 Continue, 103 Early Hints): the real one follows
            self._begin_body(status, headers)
            settle(self.head, (status, reason, headers))
            rest, self.buffer = bytes(self.buffer), bytearray()
            if self.state == _CLOSE:
                self._append(rest)
            elif self.state == _LENGTH:
                self._take_length(rest)
            elif self.state != _DONE:
                self.buffer += rest
                self._parse_chunks()

    def _begin_body(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self.head_request or status in (204, 304):
            self._finish()
            return
        if self.keep_body:
            self.decoder = decoder_for(headers, max(self.max_body_bytes, 1 << 20) * MAX_DECODED_RATIO)
        encodings: list[str] = []
        lengths: set[str] = set()
        for k, v in headers:   # one pass for both framing headers
            if k == "transfer-encoding":
                encodings.append(v)
            elif k == "content-length":
                lengths.add(v)
        if encodings:
            last = encodings[-1].split(",")[-1].strip().lower()
            self.state = _CHUNK_SIZE if last == "chunked" else _CLOSE
            return
        if lengths:
            if len(lengths) > 1 or not all(v.isdigit() and len(v) < 19 for v in lengths):
                raise Failure("protocol", "bad or conflicting Content-Length")
            length = int(lengths.pop())
            if length > self.max_body_bytes and self.keep_body:  # a status-only check reads up to the cap
                raise Failure("body_too_large",
                              f"Content-Length {length} exceeds the {self.max_body_bytes}-byte cap")
            if length == 0:
                self._finish()
                return
            self.remaining = length
            self.state = _LENGTH
            return
        self.state = _CLOSE

    def _append(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self.body_bytes + len(data) > self.max_body_bytes:
            if not self.keep_body:
                # Nobody looks at this body: stop reading at the cap instead of failing the check.
                self.body_bytes = self.max_body_bytes
                self.truncated = True
                self._finish()
                return
            self.body_bytes += len(data)
            raise Failure("body_too_large", f"body exceeds the {self.max_body_bytes}-byte cap")
        self.body_bytes += len(data)
        if self.keep_body:
            self.body += self.decoder.feed(data) if self.decoder is not None else data

    def _take_length(self, data: bytes) -> None:
        take = data[: self.remaining]
        self._append(take)
        self.remaining -= len(take)
        if self.remaining == 0:
            self._finish()

    def _parse_chunks(self) -> None:
        buf = self.buffer
        pos = 0
        try:
            while self.state != _DONE:
                if self.state == _CHUNK_SIZE or self.state == _TRAILER:
                    end = buf.find(b"\n", pos)
                    if end < 0:
                        if len(buf) - pos > MAX_CHUNK_LINE_BYTES:
                            raise Failure("protocol", "chunk size line too long")
                        return
                    line = bytes(buf[pos:end]).rstrip(b"\r")
                    pos = end + 1
                    if self.state == _TRAILER:
                        self.trailer_bytes += len(line)
                        if not line:
                            self._finish()
                        elif self.trailer_bytes > MAX_HEAD_BYTES:
                            raise Failure("protocol", "trailer section too large")
                        continue
                    size_text = line.split(b";", 1)[0].strip()
                    if not size_text or len(size_text) > 15 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                        raise Failure("protocol", f"bad chunk size line {line[:40]!r}")
                    size = int(size_text, 16)
                    if size == 0:
                        self.state = _TRAILER
                    else:
                        if self.body_bytes + size > self.max_body_bytes and self.keep_body:
                            self.body_bytes += size
                            raise Failure("body_too_large", f"body exceeds the {self.max_body_bytes}-byte cap")
                        self.remaining = size
                        self.state = _CHUNK_DATA
                elif self.state == _CHUNK_DATA:
                    if pos >= len(buf):
                        return
                    take = min(self.remaining, len(buf) - pos)
                    self._append(buf[pos: pos + take])
                    pos += take
                    self.remaining -= take
                    if self.remaining == 0:
                        self.state = _CHUNK_CRLF
                else:  # _CHUNK_CRLF
                    if len(buf) - pos < 2:
                        if len(buf) - pos == 1 and buf[pos:pos + 1] == b"\n":
                            pos += 1
                            self.state = _CHUNK_SIZE
                        return
                    if buf[pos:pos + 2] == b"\r\n":
                        pos += 2
                    elif buf[pos:pos + 1] == b"\n":
                        pos += 1
                    else:
                        raise Failure("protocol", "chunk data not followed by a line break")
                    self.state = _CHUNK_SIZE
        finally:
            del buf[:pos]


def build_request(method: str, url: Url, headers: Sequence[tuple[str, str]], decode: bool = False) -> bytes:
    """`decode`: the body will be read and decoded, so compressed codings are offered."""
    lines = [f"{method} {url.target} HTTP/1.1", f"Host: {url.authority}"]
    given = {name.lower() for name, _ in headers}
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in given:
        lines.append("Accept: */*")
    if decode and method != "HEAD" and "accept-encoding" not in given:
        lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}")
    lines.append("Connection: close")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


@functools.lru_cache(maxsize=4096)
def literal_family(host: str) -> int:
    """AF_INET or AF_INET6 for an address literal, 0 for a name: what net/tcp.py resolve decides, kept
    per host because parsing an address with ipaddress costs more than the rest of the lookup."""
    if not is_address(host):
        return 0
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Link:
    """One exchange's connection driven by selector callbacks instead of an asyncio transport (and, for
    https, asyncio's SSL protocol): connect, TLS through an SSLObject on memory buffers, the request,
    every read fed to the same _ResponseReader (it sees the calls a transport would make: data_received,
    connection_lost). Per probe the probing task wakes once, when the head is parsed; no transport, no
    waiter futures, and over TLS the client's last handshake flight and the request leave in one send.
    It stands in as the reader's `transport` (only abort() is called on it). Addresses are tried in
    order, as net/tcp.py connect does; a connect or handshake failure fails the reader's futures."""

    __slots__ = ("loop", "reader", "trace", "host", "port", "addresses", "index", "request", "first",
                 "pending", "started", "sock", "fd", "reading", "writing", "failure", "tls_context",
                 "verify", "tls", "incoming", "outgoing", "handshaking", "tls_started", "hello_seconds")

    def __init__(self, reader: _ResponseReader, trace: Trace, url: Url, addresses: list[tuple[int, str]],
                 request: bytes, tls_context: ssl.SSLContext | None = None, verify: bool = True) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = reader
        self.trace = trace
        self.host = url.host
        self.port = url.port
        self.addresses = addresses
        self.index = 0
        self.request = request
        self.first = b""         # what the first send carries: the request, or over TLS the ClientHello
        self.pending = b""       # accepted for sending, not yet taken by the socket
        self.started = 0.0
        self.sock: socket.socket | None = None
        self.fd = -1
        self.reading = False
        self.writing = False
        self.failure: Failure | None = None
        self.tls_context = tls_context
        self.verify = verify
        self.tls: ssl.SSLObject | None = None
        self.incoming: ssl.MemoryBIO | None = None
        self.outgoing: ssl.MemoryBIO | None = None
        self.handshaking = False
        self.tls_started = 0.0
        self.hello_seconds = 0.0   # making the ClientHello, before the connect: TLS time, not connect time
        reader.transport = self  # type: ignore[assignment]

    def open(self) -> None:
        """Start connecting to the next address; when none is left, fail the reader with the last error."""
        if not self.first:
            if self.tls_context is None:
                self.first = self.request
            elif not self._client_hello():
                return
            self.started = time.perf_counter()   # connect_seconds covers every address tried
        while self.index < len(self.addresses):
            family, address = self.addresses[self.index]
            self.index += 1
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:   # no IPv6 on this host, out of file descriptors
                self.failure = connect_failure(exc, self.host, self.port)
                continue
            sock.setblocking(False)
            try:
                err = sock.connect_ex((address, self.port))
            except OSError as exc:
                err = exc.errno or errno.EINVAL
            if err in (errno.EINPROGRESS, 0):
                self.sock, self.fd = sock, sock.fileno()
                # On loopback (and often on a LAN) the handshake is over when connect_ex returns: the
                # first bytes go out at once, with no writable wake-up; EAGAIN means the SYN is still out.
                self._begin()
                return
            sock.close()
            self.failure = connect_failure(OSError(err, os.strerror(err)), self.host, self.port)
        assert self.failure is not None
        self.reader._fail(self.failure)

    def _client_hello(self) -> bool:
        assert self.tls_context is not None
        started = time.perf_counter()
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        try:
            # server_hostname as asyncio's start_tls passes it: the URL's host, also for an address
            self.tls = self.tls_context.wrap_bio(self.incoming, self.outgoing, server_hostname=self.host)
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self.first = self.outgoing.read()
            self.handshaking = True
            self.hello_seconds = time.perf_counter() - started
            return True
        except (ssl.SSLError, ValueError) as exc:
            self._tls_failed(exc)
            return False
        raise AssertionError("a TLS handshake finished before the server said a word")

    def _connect_failed(self, exc: OSError) -> None:
        self.failure = connect_failure(exc, self.host, self.port)
        self.abort()
        self.open()

    def _connected(self) -> None:
        if self.sock is None:
            return
        self.loop.remove_writer(self.fd)
        self.writing = False
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(OSError(err, os.strerror(err)))  # OSError picks ConnectionRefusedError & co
            return
        self._begin()

    def _begin(self) -> None:
        """The first send: it succeeds once the connection is established (and says so), fails with the
        connect's error (refused) or EAGAIN while the handshake is under way."""
        sock = self.sock
        assert sock is not None
        now = time.perf_counter()
        try:
            sent = sock.send(self.first)
            peer = sock.getpeername()
        except (BlockingIOError, InterruptedError):
            self.writing = True
            self.loop.add_writer(self.fd, self._connected)
            return
        except OSError as exc:
            self._connect_failed(exc)
            return
        trace = self.trace
        trace.connect_seconds += now - self.started
        trace.peer_address = str(peer[0]) if peer else ""
        if self.handshaking:
            trace.phase = "TLS handshake"
            self.tls_started = now - self.hello_seconds
        else:
            trace.phase = "response head"
            self.reader.sent_at = now
        self.reading = True
        self.loop.add_reader(self.fd, self._readable)
        if sent < len(self.first):
            self.pending = self.first[sent:]
            self._wait_for_room()

    def _write(self, data: bytes) -> None:
        """Send `data` after whatever is still pending; what the socket does not take waits for room."""
        if not data or self.sock is None:
            return
        if not self.pending:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._broken(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
        self.pending += data
        self._wait_for_room()

    def _wait_for_room(self) -> None:
        if self.writing or self.sock is None:
            return
        # The tail must not wait for the ACK of what went first (Nagle): asyncio's transports set this
        # on every socket; a request that fits one send never needs it.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.writing = True
        self.loop.add_writer(self.fd, self._send)

    def _send(self) -> None:
        """What the socket did not take at once (a big form body), as room comes."""
        if self.sock is None:
            return
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._broken(exc)
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.writing = False
            self.loop.remove_writer(self.fd)

    def _readable(self) -> None:
        if self.sock is None:
            return
        try:
            data = self.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._broken(exc)
            return
        try:
            if self.tls is None:
                if not data:
                    self._lost(None)
                    return
                self.reader.data_received(data)
            else:
                if data:
                    self.incoming.write(data)
                else:
                    self.incoming.write_eof()
                if self.handshaking:
                    self._handshake(not data)
                else:
                    self._decrypt(not data)
        except Exception as exc:  # noqa: BLE001 - a bug must reach the caller, not the loop's handler
            self._crash(exc)
            return
        if self.reader.state == _DONE:
            self.abort()   # the response is complete: the FIN needs no second wake-up

    def _handshake(self, eof: bool) -> None:
        assert self.tls is not None
        if eof:
            # What asyncio's start_tls reports for a peer that closes mid-handshake.
            self._tls_failed(ConnectionResetError())
            return
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._write(self.outgoing.read())
            return
        except ssl.SSLError as exc:
            self._tls_failed(exc)
            return
        trace = self.trace
        trace.tls_seconds += time.perf_counter() - self.tls_started
        facts, error, detail = tlsinfo.judge_certificate(self.tls, self.verify)
        if facts:
            # Over redirects and steps, the certificate that expires first is the one to watch.
            expiry = facts["tls_cert_expiry_timestamp_seconds"]
            trace.cert_expiry_timestamp_seconds = min(expiry, trace.cert_expiry_timestamp_seconds or expiry)
        if error:
            self.reader._fail(Failure(error, detail))
            return
        self.handshaking = False
        trace.phase = "response head"
        self.reader.sent_at = time.perf_counter()
        self.tls.write(self.request)
        self._write(self.outgoing.read())   # the handshake's last flight and the request together
        self._decrypt(False)                # anything the server sent along (session tickets)

    def _decrypt(self, eof: bool) -> None:
        assert self.tls is not None
        reader = self.reader
        while reader.state != _DONE:
            try:
                chunk = self.tls.read(READ_BYTES)
            except ssl.SSLWantReadError:
                if eof:
                    self._lost(None)
                elif self.outgoing.pending:
                    self._write(self.outgoing.read())   # a key update's answer
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # A close without close_notify ends the body like any close, as in asyncio's SSL protocol.
                self._lost(None)
                return
            except ssl.SSLError as exc:
                self._lost(exc)
                return
            if not chunk:   # close_notify
                self._lost(None)
                return
            reader.data_received(chunk)

    def _tls_failed(self, exc: BaseException) -> None:
        error, detail = tlsinfo.classify_ssl_error(exc)
        self.reader._fail(Failure(error, detail))

    def _broken(self, exc: OSError) -> None:
        """A send or receive failed: mid-handshake a TLS failure (as start_tls reports it), else a loss."""
        if self.handshaking:
            self._tls_failed(exc)
        else:
            self._lost(exc)

    def _lost(self, exc: Exception | None) -> None:
        self.abort()
        self.reader.connection_lost(exc)

    def _crash(self, exc: Exception) -> None:
        """A bug in a callback: the caller gets the exception (run_check logs it as internal) rather than
        the loop's exception handler and a probe left to time out."""
        self.abort()
        reader = self.reader
        reader.state = _DONE
        for fut in (reader.head, reader.done):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()   # marks it retrieved: `done` may never be awaited

    def abort(self) -> None:
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.fd)
        sock.close()


async def exchange(url: Url, method: str, headers: Sequence[tuple[str, str]], trace: Trace, *,
                   context: Callable[[], ssl.SSLContext], verify: bool, max_body_bytes: int,
                   keep_body: bool, read_body: Callable[[int, list[tuple[str, str]]], bool],
                   body: bytes = b"", addresses: list[tuple[int, str]] | None = None) -> Response:
    """One request on a fresh connection. `read_body(status, headers)` says whether to wait for the body;
    `body` is sent after the head (a form POST of a multi-step check)."""
    trace.url = url.shown
    trace.phase = "connect"
    reader = _ResponseReader(method == "HEAD", max_body_bytes, keep_body)
    if body or method == "POST":
        headers = [*headers, ("Content-Length", str(len(body)))]
    request = build_request(method, url, headers, decode=keep_body) + body
    if addresses is None:
        family = literal_family(url.host)
        if family:
            addresses = [(family, url.host)]   # an address literal: no lookup, dns_seconds stays 0
        else:
            started = time.perf_counter()
            addresses = await resolve(url.host, url.port)
            trace.dns_seconds += time.perf_counter() - started
    link = _Link(reader, trace, url, addresses, request, context() if url.scheme == "https" else None, verify)
    try:
        link.open()
        status, reason, response_headers = await reader.head
        trace.first_byte_seconds += reader.first_byte_at - reader.sent_at
        if read_body(status, response_headers):
            trace.phase = "body"
            await reader.done
        trace.body_bytes = reader.body_bytes
        return Response(status, reason, response_headers, bytes(reader.body), reader.body_bytes, url, trace,
                        reader.decoder.coding if reader.decoder is not None else "", reader.truncated)
    finally:
        trace.body_bytes = reader.body_bytes
        reader.state = _DONE
        link.abort()
        # reader.transport is the link and link.reader the reader: a cycle only the garbage collector
        # would free, with the response's futures, head lists and trace in it (12 objects a probe).
        # A failure held by a future whose traceback holds this frame (and so the reader) is another.
        reader.transport = None
        reader.head = reader.done = None  # type: ignore[assignment]


async def judged_hop(url: Url, next_url: Url, trace: Trace,
                     allow_redirects_to: Sequence[redirects.Network] = ()) -> list[tuple[int, str]]:
    """Resolve a redirect's target and judge it (net/redirects.py) against the address the previous hop
    connected to: the addresses to connect to, exactly, or Failure(`redirect_blocked`)."""
    trace.phase = "redirect"
    started = time.perf_counter()
    addresses = await resolve(next_url.host, next_url.port)
    trace.dns_seconds += time.perf_counter() - started
    blocked = redirects.refusal(trace.peer_address, [a for _, a in addresses], allow_redirects_to)
    if blocked is not None:
        raise Failure(redirects.ERROR_CLASS, f"{blocked}: {url.shown} -> {next_url.shown} "
                                             "(allow_redirects_to opens a network on purpose)")
    return addresses


async def fetch(url: Url, *, method: str = "GET", headers: Sequence[tuple[str, str]] = (),
                trace: Trace | None = None, context: Callable[[], ssl.SSLContext] = tlsinfo.client_context,
                verify: bool = True, max_body_bytes: int = 1 << 20, keep_body: bool = True,
                max_redirects: int = 5, allow_redirects_to: Sequence[redirects.Network] = ()) -> Response:
    """Request `url`, following redirects. Raises `Failure` for expected problems.

    Configured headers go only to the first URL's origin: a redirect elsewhere must not receive
    credentials. Every hop after the first is resolved, judged by net/redirects.py (`allow_redirects_to`
    opens networks on purpose) and connected to exactly the addresses judged. The caller bounds the
    whole call with its own deadline.
    """
    trace = trace if trace is not None else Trace()
    origin = url.origin
    jar = CookieJar()   # like browsers and blackbox: a login or consent redirect sets a cookie and comes back
    # Loop keys of the chain; made at the first redirect (most probes have none): the first URL's key
    # is taken with the empty jar it was requested with.
    seen: set[tuple[str, str]] | None = None
    addresses: list[tuple[int, str]] | None = None   # the configured URL: resolved by connect, not judged

    def read_body(status: int, hs: list[tuple[str, str]]) -> bool:
        return not (max_redirects and status in REDIRECT_STATUSES and any(k == "location" for k, _ in hs))

    while True:
        hop_headers = with_cookies(headers if url.origin == origin else (), jar.header(url) if jar.cookies else None)
        response = await exchange(
            url, method, hop_headers, trace, context=context, verify=verify, max_body_bytes=max_body_bytes,
            keep_body=keep_body, addresses=addresses, read_body=read_body)
        jar.update(url, response.headers)
        if not (max_redirects and response.status in REDIRECT_STATUSES):
            return response
        location = response.header("location")
        if not location:
            return response
        if seen is None:
            seen = {(str(url), "")}
        try:
            next_url = parse_url(urllib.parse.urljoin(str(url), location))
        except ValueError as exc:
            raise Failure("protocol", f"redirect to a bad Location {location[:100]!r}: {exc}") from None
        key = loop_key(next_url, jar)
        if key in seen:
            raise Failure("redirects", f"redirect loop: {url.shown} -> {next_url.shown}")
        if trace.redirects >= max_redirects:
            raise Failure("redirects", f"more than {max_redirects} redirects (last to {next_url.shown})")
        seen.add(key)
        trace.redirects += 1
        addresses = await judged_hop(url, next_url, trace, allow_redirects_to)
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method = "GET"  # what browsers do (RFC 9110 15.4)
        url = next_url


def loop_key(url: Url, jar: CookieJar) -> tuple[str, str]:
    """What makes two requests of a redirect chain the same request: the URL and the cookies sent with
    it. A redirect back to the same URL after a Set-Cookie is a new request, not a loop."""
    return str(url), jar.header(url) or ""


def with_cookies(headers: Sequence[tuple[str, str]], cookie: str | None) -> list[tuple[str, str]]:
    """`headers` plus the jar's cookies, merged into a configured Cookie header if there is one."""
    out = list(headers)
    if not cookie:
        return out
    for i, (name, value) in enumerate(out):
        if name.lower() == "cookie":
            out[i] = (name, f"{value}; {cookie}")
            return out
    out.append(("Cookie", cookie))
    return out


def charset_of(body: bytes, content_type: str | None) -> str:
    """The body's text encoding the way browsers find it: a byte-order mark, the Content-Type charset,
    a <meta charset> (or http-equiv) in the first 4 KiB, else UTF-8. Unknown or non-text codecs
    (charset=rot13) count as absent."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if content_type:
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                known = _text_codec(value.strip().strip("\"'"))
                if known:
                    return known
                break
    found = _META_CHARSET_RE.search(body[:4096])
    if found:
        return _text_codec(found.group(1).decode("ascii", "replace")) or "utf-8"
    return "utf-8"


def text_of(body: bytes, content_type: str | None) -> str:
    """The body as text to match against, in NFC: windows-1258 (the Vietnamese Windows code page) spells
    tones as combining marks, so without normalising "Hà Nội" on such a page would never match."""
    return unicodedata.normalize("NFC", body.decode(charset_of(body, content_type), "replace"))


def _text_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
        "x".encode(info.name)   # rot13 or base64 are codecs but not text encodings
    except (LookupError, TypeError, ValueError):
        return None
    return info.name
