"""What every request passes first: the Host allow-list, the cross-site refusal and the security headers."""

from __future__ import annotations

import ipaddress
import logging
import urllib.parse
from typing import Awaitable, Callable, Iterable

from aiohttp import web

from netwatch.config import Listen, is_loopback

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# The only routes that answer without any credential, whatever the configuration: Prometheus scrapes
# /metrics (no secrets, no device text beyond labels), /healthz is for the service manager, the static
# files are the board's own code and fonts, / only redirects to /board. tests/web/test_routes.py fails when a route outside this set answers
# an anonymous caller from beyond loopback.
PUBLIC_ROUTES = frozenset({"/metrics", "/healthz", "/board/static/{name}", "/board/static/font/{name}", "/"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The few headers a route sets otherwise, and why. The acknowledgement page: with `no-referrer` a browser
# sends `Origin: null` on the confirm POST; `same-origin` keeps the real Origin (so the cross-site check
# stays strict) and still never sends the token in a Referer to another site.
ROUTE_HEADERS: dict[str, dict[str, str]] = {"/ack/{token}": {"Referrer-Policy": "same-origin"}}
# Our own HTML pages that post a form (the acknowledgement link's confirm button, where the signed token
# in the path is the permission): a form body is accepted there, but only with our own Origin.
FORM_ROUTES = frozenset({"/ack/{token}"})
ALLOWED_HOSTS_KEY: web.AppKey[Callable[[], frozenset[str]]] = web.AppKey("allowed_hosts")
REFUSED_HOSTS_KEY: web.AppKey[set[str]] = web.AppKey("refused_hosts")

# The address the daemon's listener actually holds (see web/listener.py); tests that serve the app
# themselves leave it unset and the configured `listen` stands in.
BOUND_KEY: web.AppKey[dict[str, Listen]] = web.AppKey("bound_listen")
FORWARDED_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def allowed_host_names(public_url: str | None, extra: Iterable[str]) -> frozenset[str]:
    """Names a Host header may carry besides IP literals: localhost, the host of `board.public_url`
    and `board.allowed_hosts`."""
    names = {"localhost"}
    if public_url:
        host = urllib.parse.urlsplit(public_url).hostname
        if host:
            names.add(host.lower())
    names.update(h.lower().rstrip(".") for h in extra)
    return frozenset(names)


def host_allowed(header: str, names: frozenset[str]) -> bool:
    """DNS rebinding points an attacker's name at our address, so the browser sends that name as Host:
    only names we know are accepted. An IP literal is always fine: a page on it is our own origin."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in names


def bound_listen(app: web.Application, configured: Listen) -> Listen:
    holder = app.get(BOUND_KEY)
    return holder["listen"] if holder and "listen" in holder else configured


def trusted_local(request: web.Request, configured: Listen) -> bool:
    """Loopback trust (no viewer token, no relay token): the socket netwatch actually holds is bound to
    loopback, the connection arrived on a loopback address from a loopback peer, and no reverse proxy
    forwarded it. Never the configured `listen` alone: after a reload that narrowed it, a socket (or a
    kept-alive connection) on every interface may still be open."""
    if not bound_listen(request.app, configured).loopback:
        return False
    if any(h in request.headers for h in FORWARDED_HEADERS):
        return False
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    local = str(sockname[0]) if isinstance(sockname, (tuple, list)) and sockname else ""
    return is_loopback(local) and is_loopback(request.remote or "")


def client_address(request: web.Request) -> str:
    """The caller's address for sign-in limits and audit lines. Behind a reverse proxy on this host the
    peer is the proxy itself, so the address the proxy appended to X-Forwarded-For is used; from any
    other peer that header is the caller's own text and is ignored."""
    peer = request.remote or "?"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and is_loopback(peer):
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def cross_site_reason(request: web.Request) -> str | None:
    """Why a state-changing request must be refused as a possible cross-site forgery, or None.

    A browser names the calling page in `Sec-Fetch-Site` and `Origin`; a page elsewhere can send a
    `text/plain` or form body without a CORS preflight but never `application/json`, so that type is
    required too. Alertmanager, curl and the CLI send neither header and a JSON body."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site[:20]})"
    origin = request.headers.get("Origin")
    # Host and port only: behind a TLS-terminating reverse proxy the scheme we see is not the browser's.
    if origin is not None and urllib.parse.urlsplit(origin).netloc.lower() != (request.host or "").lower():
        return "cross-site request refused (foreign Origin)"
    if request.content_type != "application/json":
        resource = request.match_info.route.resource
        own_form = (resource is not None and resource.canonical in FORM_ROUTES and origin is not None
                    and request.content_type == "application/x-www-form-urlencoded")
        if not own_form:
            return "send the body as application/json"
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    names = request.app[ALLOWED_HOSTS_KEY]()
    if not host_allowed(request.host or "", names):
        shown = (request.host or "")[:100]
        refused = request.app[REFUSED_HOSTS_KEY]
        if shown not in refused and len(refused) < 100:   # once per name: a polling page must not flood the log
            refused.add(shown)
            log.warning("refused requests for unknown Host %r (first from %s); add it to board.allowed_hosts if "
                        "it is ours", shown, request.remote)
        return web.json_response({"error": "unknown Host: add the name to board.allowed_hosts"}, status=421)
    if request.method not in SAFE_METHODS:
        reason = cross_site_reason(request)
        if reason is not None:
            status = 415 if reason.startswith("send the body") else 403
            return web.json_response({"error": reason}, status=status)
    return await handler(request)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, errors and 404s included, carries the same headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def install(app: web.Application, allowed_hosts: Callable[[], frozenset[str]]) -> None:
    app[ALLOWED_HOSTS_KEY] = allowed_hosts
    app[REFUSED_HOSTS_KEY] = set()
    app.middlewares.append(guard)
    app.on_response_prepare.append(add_security_headers)
