"""The web side's listening socket: bound from `listen` (HTTPS with `listen_tls`), rebound on reload."""

from __future__ import annotations

import errno
import logging
import ssl

from aiohttp import web

from netwatch.config import Listen, ListenTls
from netwatch.web.guard import BOUND_KEY

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 2.0


def ssl_context(tls: ListenTls) -> ssl.SSLContext:
    """Server-side TLS, 1.2 at least (the standard library's defaults for ciphers)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def url_of(listen: Listen) -> str:
    return f"{'https' if listen.tls else 'http'}://{listen}"


class Listener:
    """Owns the runner and the one site serving the app. The access rules (web/guard.py `trusted_local`)
    read the Listen this object actually holds, never the configured one, so a reload that narrows
    `listen` cannot leave a wide socket that believes it is loopback-only."""

    def __init__(self, app: web.Application) -> None:
        self.holder: dict[str, Listen] = {}
        app[BOUND_KEY] = self.holder
        # A request still running when the listener closes gets this long, then is cancelled (aiohttp waits 60 s).
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        self.site: web.TCPSite | None = None

    @property
    def bound(self) -> Listen | None:
        return self.holder.get("listen")

    async def _bind(self, listen: Listen) -> web.TCPSite:
        site = web.TCPSite(self.runner, listen.host, listen.port,
                           ssl_context=ssl_context(listen.tls) if listen.tls else None)
        await site.start()
        return site

    def _adopt(self, site: web.TCPSite, listen: Listen) -> None:
        self.site = site
        self.holder["listen"] = listen
        log.info("serving /metrics on %s/metrics and the status board on %s/board", url_of(listen), url_of(listen))
        if not listen.loopback and listen.tls is None:
            log.warning("INSECURE: listening on %s without TLS: operator passwords and tokens cross the network "
                        "in clear. Set listen_tls: {cert_file, key_file}, or keep listen on 127.0.0.1 behind an "
                        "HTTPS reverse proxy (docs/security.md)", listen)

    async def start(self, listen: Listen) -> None:
        await self.runner.setup()
        self._adopt(await self._bind(listen), listen)

    async def apply(self, listen: Listen) -> bool:
        """Adopt a reloaded `listen`: bind the new socket, then close the old one. When the new address
        cannot be bound the old socket stays, with its own access rules, and the log says a restart is
        needed. Returns whether the configured address is the one served."""
        old, old_listen = self.site, self.bound
        if old is None or old_listen is None or listen == old_listen:
            return True
        try:
            new = await self._bind(listen)
        except (OSError, ssl.SSLError) as exc:
            if not (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE and listen.port == old_listen.port):
                log.error("listen changed to %s but it cannot be bound (%s): still serving on %s with its access "
                          "rules; restart netwatch to apply it", listen, exc, old_listen)
                return False
            # Same port on another address (0.0.0.0 -> 127.0.0.1): Linux refuses both at once, so the old
            # socket goes first, and comes back if the new one still fails.
            await old.stop()
            self.site = None
            try:
                new = await self._bind(listen)
            except (OSError, ssl.SSLError) as again:
                log.error("listen changed to %s but it cannot be bound (%s): still serving on %s with its access "
                          "rules; restart netwatch to apply it", listen, again, old_listen)
                self.site = await self._bind(old_listen)
                return False
            self._adopt(new, listen)
            log.warning("listen rebound from %s to %s", old_listen, listen)
            return True
        self._adopt(new, listen)
        await old.stop()
        log.warning("listen rebound from %s to %s", old_listen, listen)
        return True

    async def close(self) -> None:
        await self.runner.cleanup()
