"""A simulated GSM modem on a pseudo-terminal: answers AT commands as a real one does (text mode).

It echoes commands until ATE0, keeps AT+CMGF/AT+CSCS/AT+CSMP settings, prompts '> ' after
AT+CMGS="number", reads the text up to Ctrl-Z, decodes UCS-2 hex when AT+CSCS="UCS2", and answers
`+CMGS: <ref>` and OK. `fail_sends` makes the next sends answer `+CMS ERROR: 500`.

Receiving: `receive(number, text)` stores an SMS as a SIM would and announces it with an unsolicited
`+CMTI: "SM",<index>`; AT+CMGL lists stored messages (UCS-2 hex for number and text when
AT+CSCS="UCS2"), AT+CMGD=<index> deletes one.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from dataclasses import dataclass, field


@dataclass
class Sms:
    number: str
    text: str
    charset: str
    dcs: int


@dataclass
class SimulatedModem:
    sent: list[Sms] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    fail_sends: int = 0
    echo: bool = True
    text_mode: bool = False
    charset: str = "GSM"
    dcs: int = 0
    inbox: dict[int, tuple[str, str]] = field(default_factory=dict)
    next_index: int = 1

    def __post_init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def receive(self, number: str, text: str) -> int:
        index = self.next_index
        self.next_index += 1
        self.inbox[index] = (number, text)
        self._write(f'\r\n+CMTI: "SM",{index}\r\n')
        return index

    def _write(self, text: str) -> None:
        os.write(self.master, text.encode("ascii"))

    def _serve(self) -> None:
        buf = b""
        pending_number: str | None = None
        while not self._stop.is_set():
            readable, _, _ = select.select([self.master], [], [], 0.1)
            if not readable:
                continue
            try:
                buf += os.read(self.master, 4096)
            except OSError:
                return
            while True:
                if pending_number is not None:
                    if b"\x1a" not in buf:
                        break
                    body, buf = buf.split(b"\x1a", 1)
                    raw = body.decode("ascii", "replace")
                    text = bytes.fromhex(raw).decode("utf-16-be") if self.charset == "UCS2" else raw
                    if self.fail_sends > 0:
                        self.fail_sends -= 1
                        self._write("\r\n+CMS ERROR: 500\r\n")
                    else:
                        self.sent.append(Sms(pending_number, text, self.charset, self.dcs))
                        self._write(f"\r\n+CMGS: {len(self.sent)}\r\n\r\nOK\r\n")
                    pending_number = None
                    continue
                if b"\r" not in buf:
                    break
                line, buf = buf.split(b"\r", 1)
                cmd = line.decode("ascii", "replace").strip()
                if not cmd:
                    continue
                self.commands.append(cmd)
                if self.echo:
                    self._write(cmd + "\r")
                pending_number = self._answer(cmd)

    def _answer(self, cmd: str) -> str | None:
        upper = cmd.upper()
        if upper == "AT":
            self._write("\r\nOK\r\n")
        elif upper == "ATE0":
            self.echo = False
            self._write("\r\nOK\r\n")
        elif upper == "AT+CMGF=1":
            self.text_mode = True
            self._write("\r\nOK\r\n")
        elif upper.startswith("AT+CSCS="):
            self.charset = cmd.split("=", 1)[1].strip('"')
            self._write("\r\nOK\r\n")
        elif upper.startswith("AT+CSMP="):
            self.dcs = int(cmd.split("=", 1)[1].split(",")[3])
            self._write("\r\nOK\r\n")
        elif upper.startswith("AT+CMGL") and self.text_mode:
            ucs2 = self.charset == "UCS2"
            out = ""
            for index, (number, text) in sorted(self.inbox.items()):
                shown_number = number.encode("utf-16-be").hex().upper() if ucs2 else number
                shown_text = text.encode("utf-16-be").hex().upper() if ucs2 else text
                out += f'\r\n+CMGL: {index},"REC UNREAD","{shown_number}",,"26/12/02,08:00:00+28"\r\n{shown_text}'
            self._write(out + "\r\n\r\nOK\r\n")
        elif upper.startswith("AT+CMGD="):
            self.inbox.pop(int(cmd.split("=", 1)[1].split(",")[0]), None)
            self._write("\r\nOK\r\n")
        elif upper == "AT+CPIN?":
            self._write("\r\n+CPIN: READY\r\n\r\nOK\r\n")
        elif upper.startswith("AT+CMGS=") and self.text_mode:
            number = cmd.split("=", 1)[1].strip('"')
            if self.charset == "UCS2":
                number = bytes.fromhex(number).decode("utf-16-be")
            self._write("\r\n> ")
            return number
        else:
            self._write("\r\nERROR\r\n")
        return None
