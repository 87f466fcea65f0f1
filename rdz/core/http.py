"""Outbound HTTP POSTs to the endpoints RDZ delivers to (client APIs, the companies' CRMs)."""

import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

import requests
import urllib3
from django.conf import settings

BODY_LIMIT = 2000  # characters of the answer kept for the attempt's log


@dataclass(frozen=True)
class HttpAnswer:
    status_code: int
    body: str  # the first BODY_LIMIT characters
    location: str = ""  # where a 3xx answer points

    @property
    def redirect_error(self) -> str:
        """French explanation for a 3xx answer ('' otherwise)."""
        if not 300 <= self.status_code < 400:
            return ""
        return (
            f"HTTP {self.status_code} : redirection vers « {self.location[:200] or '?'} » non suivie "
            "(corrigez l'URL configurée)"
        )


def http_post_json(url: str, *, payload, headers: dict, timeout: float) -> HttpAnswer:
    """POST `payload` as JSON. Raises `requests.RequestException` (Timeout, …) as requests does.

    Redirects are not followed: requests would replay a 301/302 as a GET, whose 200 would
    count as a delivery that never happened, and would send the endpoint's credentials to
    whatever host the redirect names. A 3xx is an answer like any other non-2xx, with its
    target given in `location`. At most BODY_LIMIT characters of the answer are read, so an
    endpoint answering a huge or never-ending body cannot hold a worker or its memory, and the
    body must arrive within `timeout` seconds as a whole (requests' timeout bounds each wait
    only: a body trickled a byte at a time would hold the worker for hours). A worker held
    anyway (headers trickled the same way) is stopped by the task's hard time limit, which
    the outbox lease outlasts (`outbox_claim`).
    """
    with requests.post(
        url, json=payload, headers=headers, timeout=timeout, allow_redirects=False, stream=True
    ) as response:
        raw = _body_read(response, limit=BODY_LIMIT * 4, timeout=timeout)  # enough bytes for BODY_LIMIT characters
        body = raw.decode(response.encoding or "utf-8", errors="replace")[:BODY_LIMIT]
        return HttpAnswer(response.status_code, body, response.headers.get("Location", ""))


def _body_read(response: requests.Response, *, limit: int, timeout: float) -> bytes:
    """Up to `limit` bytes of the body, all within `timeout` seconds; transport errors as requests'."""
    deadline = time.monotonic() + timeout
    raw = b""
    while len(raw) < limit:
        try:
            chunk = response.raw.read1(1024, decode_content=True)  # returns after one read from the socket
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        if not chunk:
            break
        raw += chunk
        if time.monotonic() > deadline:
            raise requests.exceptions.ReadTimeout(f"réponse reçue trop lentement (plus de {timeout:g} s)")
    return raw


def connection_error_text(exc: requests.RequestException, *, url: str | None) -> str:
    """Why `url` could not be reached, in French for staff (the attempt log, the pause alert):
    a certificate to renew, a TLS setup, a host name or a server down call for different
    people. The library's own words stay in parentheses. Without `url`, an unknown host is
    not named (a CRM's error is read by the staff of both entities after a fallback)."""
    causes = _causes(exc)
    if cert := next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None):
        detail = f"certificat TLS du serveur refusé ({cert.verify_message or cert.reason or cert})"
    elif tls := next((c for c in causes if isinstance(c, ssl.SSLError)), None):
        detail = f"échec de la négociation TLS ({tls.reason or tls})"
    elif any(isinstance(c, socket.gaierror) for c in causes):
        host = urllib.parse.urlsplit(url).hostname or url if url else ""
        detail = f"nom d'hôte introuvable ({host})" if host else "nom d'hôte introuvable"
    elif any(isinstance(c, ConnectionRefusedError) for c in causes):
        detail = "connexion refusée par le serveur"
    elif any(isinstance(c, ConnectionResetError) for c in causes):
        detail = "connexion coupée par le serveur"
    else:
        detail = type(exc).__name__
    return f"erreur de connexion : {detail}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and those behind it (requests wraps urllib3, which wraps the socket's)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen) and len(seen) < 10:
        seen.append(current)
        reason = getattr(current, "reason", None)
        wrapped = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = (
            current.__cause__
            or wrapped
            or (reason if isinstance(reason, BaseException) else None)
            or current.__context__
        )
    return seen


def url_refused_address(url: str) -> str:
    """The internal address that makes a client's delivery URL refused, or '' when it may be
    used: every address is public, or DELIVERY_PRIVATE_HOSTS_ALLOWED (DEBUG) lets it through.
    One rule for the client form, each sending and the legacy import."""
    if not url or getattr(settings, "DELIVERY_PRIVATE_HOSTS_ALLOWED", False):
        return ""
    return url_internal_address(url)


def url_internal_address(url: str) -> str:
    """The first address of the URL's host that is not on the public Internet (loopback,
    private, link-local, reserved, multicast), or '' when every address is public or the host
    does not resolve (the request then fails on its own).

    Resolved again at each sending: a name pointed at an internal address after the URL was
    accepted is caught there. (A name that changes between this check and the connection,
    seconds later, is not: that needs a resolver of our own.)
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ""
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return str(address)
    return ""
