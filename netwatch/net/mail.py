"""Async SMTP and IMAP client sessions for probing: per-phase timings, certificate checks, hard caps."""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from typing import Callable, Literal, Sequence

from netwatch.fields import FieldError
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure, connect, start_tls

TlsMode = Literal["starttls", "implicit", "none"]

MAX_LINE_BYTES = 8192
MAX_REPLY_LINES = 200
MAX_LITERAL_BYTES = 1 << 20
MAX_RESPONSE_BYTES = 4 << 20
_LITERAL_RE = re.compile(rb"\{(\d{1,9})\+?\}\r?\n?$")
_ATOM_SAFE = re.compile(r"^[\x20-\x7e]*$")


class Connection:
    """A line-oriented TCP connection that can be upgraded to TLS in place; timings land in `timings`."""

    def __init__(self, host: str, server_name: str, timings: dict[str, float]) -> None:
        self.host = host
        self.server_name = server_name
        self.timings = timings
        self.loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader(limit=MAX_LINE_BYTES, loop=self.loop)
        self.protocol = asyncio.StreamReaderProtocol(self.reader, loop=self.loop)
        # No StreamWriter: one dropped at the STARTTLS upgrade would close the raw transport under TLS.
        self.transport: asyncio.Transport | None = None
        self.tls = False

    async def open(self, port: int) -> None:
        transport, _, dns_s, connect_s = await connect(self.host, port, lambda: self.protocol)
        self.transport = transport
        self.timings["dns_seconds"] = dns_s
        self.timings["connect_seconds"] = connect_s

    async def start_tls(self, context: ssl.SSLContext, verify: bool) -> None:
        """Handshake now (implicit TLS) or after the server agreed (STARTTLS); raises Failure(tls_*)."""
        assert self.transport is not None
        started = time.perf_counter()
        raw, self.transport = self.transport, None
        self.transport = await start_tls(raw, self.protocol, context, self.server_name)
        self.timings["tls_seconds"] = time.perf_counter() - started
        self.tls = True
        facts, error, detail = tlsinfo.judge_certificate(self.transport.get_extra_info("ssl_object"), verify)
        self.timings.update(facts)
        if error:
            raise Failure(error, detail)

    async def readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError:  # the line is longer than the reader's limit
            raise Failure("protocol", f"server sent a line longer than {MAX_LINE_BYTES} bytes") from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise Failure("protocol", f"connection lost: {exc}") from None

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError:
            raise Failure("protocol", "connection closed inside a literal") from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise Failure("protocol", f"connection lost: {exc}") from None

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise Failure("protocol", "connection closed")
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Mask secrets a hostile server might echo back inside its replies."""
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "********")
    return text


def _show(line: bytes | str, limit: int = 120) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return tlsinfo.clean_detail(text.rstrip("\r\n"), limit)


# -- SMTP ------------------------------------------------------------------------------------

class Smtp:
    """One SMTP conversation (RFC 5321) on a Connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.extensions: dict[str, str] = {}

    async def reply(self) -> tuple[int, list[str]]:
        lines: list[str] = []
        while True:
            raw = await self.conn.readline()
            if not raw:
                raise Failure("protocol", "server closed the connection"
                              + (f" after {_show(lines[-1])!r}" if lines else " without a reply"))
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise Failure("protocol", f"not an SMTP reply: {_show(line, 80)!r}")
            lines.append(line[4:])
            if len(lines) > MAX_REPLY_LINES:
                raise Failure("protocol", f"reply longer than {MAX_REPLY_LINES} lines")
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines

    async def command(self, text: str) -> tuple[int, list[str]]:
        self.conn.write(text.encode("utf-8") + b"\r\n")
        return await self.reply()

    async def expect(self, text: str | None, ok: Sequence[int], what: str, error: str = "protocol") -> list[str]:
        code, lines = await (self.command(text) if text is not None else self.reply())
        if code not in ok:
            raise Failure(error, f"{what}: {code} {_show(lines[-1] if lines else '')}")
        return lines

    async def banner(self) -> str:
        lines = await self.expect(None, (220,), "server refused the session")
        return lines[0] if lines else ""

    async def ehlo(self, name: str) -> None:
        lines = await self.expect(f"EHLO {name}", (250,), "EHLO refused")
        self.extensions = {}
        for line in lines[1:]:
            keyword, _, params = line.partition(" ")
            self.extensions[keyword.upper()] = params

    async def starttls(self, context: ssl.SSLContext, verify: bool) -> None:
        if "STARTTLS" not in self.extensions:
            raise Failure("tls", "server does not offer STARTTLS")
        await self.expect("STARTTLS", (220,), "STARTTLS refused", "tls")
        await self.conn.start_tls(context, verify)

    async def login(self, username: str, password: str) -> None:
        """AUTH PLAIN, or LOGIN where PLAIN is not offered (RFC 4954). Never echoes the secret."""
        secrets = (password, base64.b64encode(password.encode()).decode(),
                   base64.b64encode(f"\0{username}\0{password}".encode()).decode())
        try:
            await self._login(username, password, secrets)
        except Failure as failure:
            raise Failure(failure.error, scrub(failure.detail, secrets)) from None

    async def _login(self, username: str, password: str, secrets: Sequence[str]) -> None:
        offered = set(self.extensions.get("AUTH", "").upper().split())
        if "PLAIN" in offered or not offered:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
            code, lines = await self.command(f"AUTH PLAIN {token}")
        elif "LOGIN" in offered:
            code, lines = await self.command("AUTH LOGIN")
            if code == 334:
                code, lines = await self.command(base64.b64encode(username.encode()).decode())
            if code == 334:
                code, lines = await self.command(base64.b64encode(password.encode()).decode())
        else:
            raise Failure("auth", f"server offers no password mechanism (AUTH {_show(' '.join(sorted(offered)), 60)})")
        if code == 235:
            return
        reason = _show(scrub(lines[-1] if lines else "", secrets), 100)
        if code in (535, 534, 530, 538):
            raise Failure("auth", f"server refused the credentials: {code} {reason}")
        raise Failure("protocol", f"AUTH failed: {code} {reason}")

    async def send(self, mail_from: str, rcpt_to: Sequence[str], message: bytes) -> None:
        await self.expect(f"MAIL FROM:<{mail_from}>", (250,), "MAIL FROM refused", "mail_rejected")
        for rcpt in rcpt_to:
            await self.expect(f"RCPT TO:<{rcpt}>", (250, 251), f"RCPT TO {rcpt} refused", "mail_rejected")
        await self.expect("DATA", (354,), "DATA refused", "mail_rejected")
        body = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in message.split(b"\r\n"))
        self.conn.write(body + b"\r\n.\r\n")
        await self.expect(None, (250,), "message refused", "mail_rejected")

    async def quit(self) -> None:
        try:
            await asyncio.wait_for(self.command("QUIT"), 1.0)
        except (Failure, TimeoutError):
            pass


async def open_smtp(host: str, port: int, tls: TlsMode, server_name: str, context: Callable[[], ssl.SSLContext],
                    verify: bool, helo: str, timings: dict[str, float]) -> Smtp:
    """Connect, read the banner, EHLO, and STARTTLS (then EHLO again) as the mode asks."""
    conn = Connection(host, server_name, timings)
    await conn.open(port)
    smtp = Smtp(conn)
    try:
        if tls == "implicit":
            await conn.start_tls(context(), verify)
        started = time.perf_counter()
        await smtp.banner()
        timings["banner_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        await smtp.ehlo(helo)
        timings["ehlo_seconds"] = time.perf_counter() - started
        if tls == "starttls":
            await smtp.starttls(context(), verify)
            await smtp.ehlo(helo)
    except BaseException:
        conn.close()
        raise
    return smtp


# -- IMAP ------------------------------------------------------------------------------------

def quote(text: str) -> str | bytes:
    """An IMAP string: quoted when plain ASCII, else a literal (bytes) the command sends with `{n}`."""
    if _ATOM_SAFE.match(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text.encode("utf-8")


class Imap:
    """One IMAP4rev1 conversation (RFC 3501) on a Connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.counter = 0
        self.capabilities: set[str] = set()
        self.exists = 0

    async def response_line(self) -> bytes:
        """One response line with any literals it carries inlined; capped in size."""
        out = bytearray()
        while True:
            raw = await self.conn.readline()
            if not raw:
                raise Failure("protocol", "server closed the connection")
            out += raw
            m = _LITERAL_RE.search(raw)
            if not m:
                return bytes(out)
            size = int(m.group(1))
            if size > MAX_LITERAL_BYTES or len(out) + size > MAX_RESPONSE_BYTES:
                raise Failure("protocol", f"server sent a {size}-byte literal, over the cap")
            out += await self.conn.readexactly(size)

    async def greeting(self) -> None:
        line = await self.response_line()
        if line.startswith(b"* BYE"):
            raise Failure("refused", f"server refused the session: {_show(line)}")
        if not (line.startswith(b"* OK") or line.startswith(b"* PREAUTH")):
            raise Failure("protocol", f"not an IMAP greeting: {_show(line, 80)!r}")
        self._note(line)

    def _note(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        m = re.search(r"\[CAPABILITY ([^\]]*)\]", text, re.I)
        if m:
            self.capabilities = set(m.group(1).upper().split())
        if text.upper().startswith("* CAPABILITY "):
            self.capabilities = set(text[13:].upper().split())
        m = re.match(r"\* (\d+) EXISTS", text, re.I)
        if m:
            self.exists = int(m.group(1))

    async def command(self, *parts: str | bytes, ok_error: str = "protocol", what: str = "") -> list[bytes]:
        """Send a command; return untagged lines on OK, raise Failure(ok_error) on NO, protocol on BAD."""
        self.counter += 1
        tag = f"N{self.counter:04d}"
        what = what or (parts[0] if isinstance(parts[0], str) else "command")
        pending = [tag]
        chunks: list[tuple[str, bytes | None]] = []
        for part in parts:
            if isinstance(part, bytes):
                pending.append("{%d}" % len(part))
                chunks.append((" ".join(pending), part))
                pending = []
            else:
                pending.append(part)
        untagged: list[bytes] = []
        for text, literal in chunks:
            self.conn.write(text.encode() + b"\r\n")
            while True:  # wait for the continuation request before sending the literal
                line = await self.response_line()
                if line.startswith(b"+"):
                    break
                if line.startswith(tag.encode() + b" "):
                    raise Failure("protocol", f"{what} refused: {_show(line)}")
                self._note(line)
                untagged.append(line)
            assert literal is not None
            self.conn.write(literal)
        if chunks:  # a space separates the last literal from the arguments after it
            self.conn.write((" " + " ".join(pending) if pending else "").encode() + b"\r\n")
        else:
            self.conn.write(" ".join(pending).encode() + b"\r\n")
        total = 0
        while True:
            line = await self.response_line()
            total += len(line)
            if total > MAX_RESPONSE_BYTES:
                raise Failure("protocol", f"response to {what} larger than {MAX_RESPONSE_BYTES} bytes")
            if line.startswith(tag.encode() + b" "):
                status = line[len(tag) + 1:].split(b" ", 1)[0].upper()
                if status == b"OK":
                    self._note(line)
                    return untagged
                cls = ok_error if status == b"NO" else "protocol"
                rest = line[len(tag) + 1:]
                raise Failure(cls, f"{what} failed: {_show(rest)}")
            if line.startswith(b"* BYE"):
                raise Failure("protocol", f"server ended the session: {_show(line)}")
            self._note(line)
            untagged.append(line)

    async def capability(self) -> None:
        await self.command("CAPABILITY")

    async def starttls(self, context: ssl.SSLContext, verify: bool) -> None:
        if not self.capabilities:
            await self.capability()
        if "STARTTLS" not in self.capabilities:
            raise Failure("tls", "server does not offer STARTTLS")
        await self.command("STARTTLS", ok_error="tls")
        await self.conn.start_tls(context, verify)
        self.capabilities = set()

    async def login(self, username: str, password: str) -> None:
        # Failures quote only the server's answer, and a server that echoes the secret is scrubbed.
        try:
            await self.command("LOGIN", quote(username), quote(password), ok_error="auth", what="LOGIN")
        except Failure as failure:
            raise Failure(failure.error, scrub(failure.detail, (password,))) from None

    async def select(self, mailbox: str) -> int:
        await self.command("SELECT", quote(mailbox), ok_error="mailbox", what=f"SELECT {mailbox}")
        return self.exists

    async def search_subject(self, words: str) -> list[int]:
        """UIDs of messages whose Subject contains `words`."""
        found: list[int] = []
        for line in await self.command("UID", "SEARCH", "SUBJECT", quote(words), what="SEARCH"):
            if line.upper().startswith(b"* SEARCH"):
                found.extend(int(n) for n in line[8:].split() if n.isdigit())
        return found

    async def delete(self, uids: Sequence[int]) -> None:
        """Flag and expunge exactly these messages (UID EXPUNGE with UIDPLUS, RFC 4315)."""
        if not uids:
            return
        uid_set = ",".join(str(u) for u in uids)
        await self.command("UID", "STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)", what="STORE")
        if not self.capabilities:
            await self.capability()
        if "UIDPLUS" in self.capabilities:
            await self.command("UID", "EXPUNGE", uid_set, what="UID EXPUNGE")
        else:
            await self.command("EXPUNGE")

    async def noop(self) -> None:
        await self.command("NOOP")

    async def logout(self) -> None:
        try:
            await asyncio.wait_for(self.command("LOGOUT"), 1.0)
        except (Failure, TimeoutError):
            pass


async def open_imap(host: str, port: int, tls: TlsMode, server_name: str, context: Callable[[], ssl.SSLContext],
                    verify: bool, username: str, password: str, timings: dict[str, float]) -> Imap:
    """Connect, greet, STARTTLS if asked, and log in."""
    conn = Connection(host, server_name, timings)
    await conn.open(port)
    imap = Imap(conn)
    try:
        if tls == "implicit":
            await conn.start_tls(context(), verify)
        started = time.perf_counter()
        await imap.greeting()
        timings["greeting_seconds"] = time.perf_counter() - started
        if tls == "starttls":
            await imap.starttls(context(), verify)
        started = time.perf_counter()
        await imap.login(username, password)
        timings["login_seconds"] = time.perf_counter() - started
    except BaseException:
        conn.close()
        raise
    return imap


# -- settings shared by the mail probes ------------------------------------------------------

_ADDRESS_RE = re.compile(r"^[^\s<>@\"]+@[^\s<>@\"]+$")
_HELO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*$|^\[[0-9A-Fa-f:.]+\]$")


def tls_mode(tls: TlsMode | None, port: int, implicit_ports: tuple[int, ...]) -> TlsMode:
    """The configured mode, else implicit TLS on the well-known TLS ports and STARTTLS elsewhere."""
    if tls is not None:
        return tls
    return "implicit" if port in implicit_ports else "starttls"


def validate_endpoint(prefix: str, port: int, mode: TlsMode, username: str | None, password: object,
                      ca_file: str | None = None, password_required: bool = False) -> None:
    if not 0 < port < 65536:
        raise FieldError(f"{prefix}port", "must be between 1 and 65535")
    if password_required and not (username and password):
        raise FieldError(f"{prefix}username", "username and password are required")
    if bool(username) != bool(password):
        raise FieldError(f"{prefix}password" if username else f"{prefix}username",
                         "give both username and password (password_file: reads it from a file)")
    if password and mode == "none":
        raise FieldError(f"{prefix}tls", "a password would cross the network in clear: use starttls or implicit")
    for name, value in (("username", username),):
        if value is not None and any(ch in value for ch in "\r\n\0"):
            raise FieldError(f"{prefix}{name}", "contains a line break or NUL")
    secret = getattr(password, "reveal", lambda: "")()
    if any(ch in secret for ch in "\r\n\0"):
        raise FieldError(f"{prefix}password", "contains a line break or NUL")
    if ca_file is not None:
        tlsinfo.check_ca_file(ca_file, f"{prefix}ca_file")


def validate_address(field_name: str, value: str) -> None:
    if not _ADDRESS_RE.match(value):
        raise FieldError(field_name, f"{value!r} is not a mail address (name@domain)")


def validate_helo(value: str) -> None:
    if not _HELO_RE.match(value):
        raise FieldError("helo", f"{value!r} is not a host name or [address]")


def describe_timeout(timings: dict[str, float], order: Sequence[tuple[str, str]], timeout_seconds: float) -> str:
    """'<phase> not done within Ns': the first phase in `order` that has no timing yet."""
    for key, phase in order:
        if key not in timings:
            return f"{phase} not done within {timeout_seconds:g}s"
    return f"not done within {timeout_seconds:g}s"
