"""SMS through a GSM/4G modem on a serial port (AT commands, text mode, GSM-7 or UCS-2).

This is the out-of-band path: it needs no Internet uplink. The dialogue is the 3GPP TS 27.005
text mode: AT+CMGF=1, AT+CSCS picks the character set, AT+CSMP's data coding scheme (0 = GSM-7,
8 = UCS-2), AT+CMGS="number", then the text ended by Ctrl-Z. Text mode cannot concatenate, so a
long text goes as several single SMS (the caller fits it to max_segments first).
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass

from netwatch.notify import sms
from netwatch.notify.senders import SendResult

CTRL_Z = b"\x1a"
_BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
          115200: termios.B115200}
_FINAL = (b"OK", b"ERROR")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def device_lock(device: str) -> threading.Lock:
    """One AT session at a time per serial port: sending and reading the inbox share the modem."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(device, threading.Lock())


class ModemError(Exception):
    pass


class Modem:
    """One AT session on an open serial device (blocking; run it in a worker thread)."""

    def __init__(self, device: str, baud: int, deadline: float) -> None:
        self.fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.deadline = deadline
        try:
            tty.setraw(self.fd)
            attrs = termios.tcgetattr(self.fd)
            speed = _BAUDS.get(baud, termios.B115200)
            attrs[4], attrs[5] = speed, speed
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
            termios.tcflush(self.fd, termios.TCIOFLUSH)
        except termios.error:
            pass  # a pseudo-terminal without line settings still carries the bytes

    def close(self) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        while data:
            _, writable, _ = select.select([], [self.fd], [], max(0.0, self.deadline - time.monotonic()))
            if not writable:
                raise ModemError("timeout writing to the modem")
            n = os.write(self.fd, data)
            data = data[n:]

    def read_until(self, done: tuple[bytes, ...]) -> bytes:
        buf = b""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise ModemError("timeout waiting for the modem")
            readable, _, _ = select.select([self.fd], [], [], left)
            if not readable:
                continue
            try:
                chunk = os.read(self.fd, 1024)
            except BlockingIOError:
                continue
            if not chunk:
                raise ModemError("modem closed the line")
            buf += chunk
            if len(buf) > 65536:
                raise ModemError("modem sent too much")
            lines = [line.strip() for line in buf.replace(b"\r", b"\n").split(b"\n")]
            for line in lines:
                if line in done or line.startswith((b"+CMS ERROR", b"+CME ERROR")) and b"ERROR" in done:
                    return buf
            if b">" in done and buf.rstrip().endswith(b">"):
                return buf

    def command(self, cmd: str) -> bytes:
        self.write(cmd.encode("ascii") + b"\r")
        reply = self.read_until(_FINAL)
        if b"ERROR" in reply:
            raise ModemError(f"{cmd.split('=')[0]} failed: {_error_of(reply)}")
        return reply


def _error_of(reply: bytes) -> str:
    for line in reply.replace(b"\r", b"\n").split(b"\n"):
        line = line.strip()
        if b"ERROR" in line:
            return line.decode("ascii", "replace")[:60]
    return "ERROR"


def _ucs2_hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def split_parts(text: str) -> list[str]:
    """Single-SMS parts: 160 GSM-7 septets or 70 UCS-2 units each."""
    encoding, _ = sms.units(text)
    size = 160 if encoding == "gsm7" else 70
    parts, current, used = [], [], 0
    for ch in text:
        cost = (2 if ch in sms.GSM7_EXTENSION else 1) if encoding == "gsm7" else len(ch.encode("utf-16-le")) // 2
        if used + cost > size:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return parts


def send_blocking(device: str, baud: int, numbers: tuple[str, ...], text: str, timeout_seconds: float,
                  pin: str | None = None) -> SendResult:
    with device_lock(device):
        return _send_locked(device, baud, numbers, text, timeout_seconds, pin)


def _send_locked(device: str, baud: int, numbers: tuple[str, ...], text: str, timeout_seconds: float,
                 pin: str | None) -> SendResult:
    deadline = time.monotonic() + timeout_seconds
    try:
        modem = Modem(device, baud, deadline)
    except OSError as exc:
        return SendResult(False, True, None, f"modem: cannot open serial port ({exc.strerror or exc})")
    try:
        modem.command("AT")
        modem.command("ATE0")
        if pin:
            state = modem.command("AT+CPIN?")
            if b"SIM PIN" in state:
                modem.command(f'AT+CPIN="{pin}"')
        modem.command("AT+CMGF=1")
        ucs2 = sms.units(text)[0] == "ucs2"
        modem.command('AT+CSCS="UCS2"' if ucs2 else 'AT+CSCS="GSM"')
        modem.command("AT+CSMP=17,167,0,8" if ucs2 else "AT+CSMP=17,167,0,0")
        for number in numbers:
            for part in split_parts(text):
                dest = _ucs2_hex(number) if ucs2 else number
                modem.write(f'AT+CMGS="{dest}"\r'.encode("ascii"))
                prompt = modem.read_until((b">", b"ERROR"))
                if b">" not in prompt:
                    raise ModemError(f"AT+CMGS refused: {_error_of(prompt)}")
                payload = _ucs2_hex(part).encode("ascii") if ucs2 else part.encode("ascii", "replace")
                modem.write(payload + CTRL_Z)
                reply = modem.read_until(_FINAL)
                if b"+CMGS" not in reply or b"ERROR" in reply:
                    raise ModemError(f"sending failed: {_error_of(reply)}")
    except ModemError as exc:
        return SendResult(False, True, None, f"modem: {exc}")
    except OSError as exc:
        return SendResult(False, True, None, f"modem: {exc.strerror or type(exc).__name__}")
    finally:
        modem.close()
    return SendResult(True)


async def send(device: str, baud: int, numbers: tuple[str, ...], text: str, timeout_seconds: float,
               pin: str | None = None) -> SendResult:
    return await asyncio.to_thread(send_blocking, device, baud, numbers, text, timeout_seconds, pin)


# ---------------------------------------------------------------- receiving (AT+CMGL, +CMTI)

MAX_INBOX = 50


@dataclass(frozen=True)
class Incoming:
    index: int
    number: str
    text: str


_CMGL = re.compile(r'^\+CMGL:\s*(\d+),"[^"]*","([^"]*)"')


def _unhex(text: str) -> str:
    """UCS-2 hex as AT+CSCS="UCS2" sends it; text that is not hex is taken as it is."""
    if len(text) % 4 == 0 and re.fullmatch(r"[0-9A-Fa-f]*", text):
        try:
            return bytes.fromhex(text).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            pass
    return text


def parse_cmgl(reply: bytes) -> list[Incoming]:
    """The messages of an AT+CMGL reply in UCS2 character set: header line, then the text line(s)."""
    out: list[Incoming] = []
    lines = reply.decode("ascii", "replace").replace("\r", "\n").split("\n")
    current: tuple[int, str] | None = None
    body: list[str] = []
    for line in [*lines, "OK"]:
        m = _CMGL.match(line.strip())
        if m or line.strip() in ("OK", "ERROR"):
            if current is not None:
                out.append(Incoming(current[0], _unhex(current[1]), _unhex("".join(body).strip())))
            current, body = ((int(m.group(1)), m.group(2)) if m else None), []
            if not m:
                break
        elif current is not None and line.strip():
            body.append(line.strip())
    return out[:MAX_INBOX]


def read_inbox_blocking(device: str, baud: int, timeout_seconds: float, pin: str | None = None) -> list[Incoming]:
    """Read and delete every stored SMS. A message is deleted only after it was read whole, so a crash
    in between reads it again (the acknowledgement it carries is idempotent)."""
    with device_lock(device):
        deadline = time.monotonic() + timeout_seconds
        modem = Modem(device, baud, deadline)
        try:
            modem.command("AT")
            modem.command("ATE0")
            if pin:
                state = modem.command("AT+CPIN?")
                if b"SIM PIN" in state:
                    modem.command(f'AT+CPIN="{pin}"')
            modem.command("AT+CMGF=1")
            modem.command('AT+CSCS="UCS2"')
            reply = modem.command('AT+CMGL="ALL"')
            messages = parse_cmgl(reply)
            for m in messages:
                modem.command(f"AT+CMGD={m.index}")
            return messages
        finally:
            modem.close()
