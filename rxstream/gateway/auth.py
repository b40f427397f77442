"""Who may connect: signed, expiring JWTs (PyJWT) naming the allowed topics; the Origin policy; security headers.

A token is a JWT signed with the server's secret (HS256 by default) whose claims are:

* ``exp`` (required): expiry, seconds since the epoch;
* ``topics`` (optional): the topics it allows, a list of names or ``["*"]``; absent = all;
* ``sub`` (optional): who it was issued to (shown in logs, never on the status route).

The client passes it as ``?token=...`` on the ``/ws`` URL or as ``Authorization: Bearer ...``,
and may refresh it on a live connection with ``{"type": "auth", "token": ...}``.

>>> auth = TokenAuth("a-secret-of-at-least-32-bytes-long", clock=lambda: 1000.0)
>>> token = auth.issue(topics=["signals"], ttl=60, subject="alice")
>>> auth.verify(token).topics
frozenset({'signals'})
>>> TokenAuth("a-secret-of-at-least-32-bytes-long", clock=lambda: 2000.0).verify(token)
Traceback (most recent call last):
rxstream.errors.AuthError: token_expired: the token expired at 1970-01-01T00:17:40Z
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import jwt
from aiohttp import web

from ..errors import AuthError, ConfigError
from .protocol import ErrorCode, Grant

__all__ = ["MIN_SECRET_BYTES", "SECURITY_HEADERS", "OriginPolicy", "TokenAuth", "load_secret", "security_headers"]

MIN_SECRET_BYTES = 32
"""The shortest HMAC secret accepted (RFC 7518 section 3.2: at least the hash size, 256 bits for HS256)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TokenAuth:
    """Verifies (and, for tools and tests, issues) connection tokens."""

    def __init__(
        self,
        secret: str,
        *,
        algorithm: str = "HS256",
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ConfigError("auth_secret", "must not be empty when authentication is on")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                "auth_secret", f"{len(secret.encode())} bytes is too short for HMAC; use at least {MIN_SECRET_BYTES}"
                " (RFC 7518 section 3.2), e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            )
        if algorithm not in ("HS256", "HS384", "HS512"):
            raise ConfigError("auth_algorithm", f"expected HS256, HS384 or HS512, got {algorithm!r}")
        self._secret = secret
        self.algorithm = algorithm
        self.leeway = leeway
        self.clock = clock

    def __repr__(self) -> str:  # never show the secret
        return f"TokenAuth(algorithm={self.algorithm!r})"

    def issue(self, *, topics: Sequence[str] | None = None, ttl: float = 3600, subject: str | None = None) -> str:
        """A signed token valid for ``ttl`` seconds."""
        claims: dict[str, object] = {"exp": round(self.clock() + ttl, 3), "iat": int(self.clock())}
        if topics is not None:
            claims["topics"] = list(topics)
        if subject is not None:
            claims["sub"] = subject
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def verify(self, token: str | None) -> Grant:
        """The grant a token carries; raises :class:`~rxstream.errors.AuthError` saying why not."""
        if not token:
            raise AuthError(
                ErrorCode.AUTH_REQUIRED.value, "a token is required: pass ?token=... or an Authorization header"
            )
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self.algorithm],
                options={"require": ["exp"], "verify_exp": False},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(ErrorCode.INVALID_TOKEN.value, f"invalid token: {exc}") from None
        exp = claims["exp"]
        if type(exp) not in (int, float) or not math.isfinite(exp):
            raise AuthError(ErrorCode.INVALID_TOKEN.value, "invalid token: 'exp' is not a finite number")
        if self.clock() >= exp + self.leeway:
            raise AuthError(ErrorCode.TOKEN_EXPIRED.value, f"the token expired at {_iso(exp)}")
        topics = claims.get("topics")
        if topics is not None and (not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)):
            raise AuthError(ErrorCode.INVALID_TOKEN.value, "invalid token: 'topics' must be a list of strings")
        subject = claims.get("sub")
        return Grant(
            subject if isinstance(subject, str) else None,
            frozenset(topics) if topics is not None else None,
            float(exp),
        )


def load_secret(secret: str | None, secret_file: str | None) -> str | None:
    """The HMAC secret from the setting or from a file (its content, without the final newline)."""
    if secret is not None and secret_file is not None:
        raise ConfigError("auth_secret_file", "give auth_secret or auth_secret_file, not both")
    if secret_file is None:
        return secret
    try:
        return Path(secret_file).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError("auth_secret_file", f"cannot read {secret_file}: {exc.strerror or exc}") from None


def _host(origin_or_host: str, scheme: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    host = origin_or_host.lower().rstrip("/")
    default = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}.get(scheme)
    return host[: -len(default)] if default and host.endswith(default) else host


class OriginPolicy:
    """Which browser pages may open the WebSocket, by their ``Origin`` header.

    By default only the page's own origin: the ``Origin``'s host (and port) must be the
    ``Host`` the request was sent to, so the dashboard served by this server connects and any
    other site's page, in a visitor's browser, cannot (cross-site WebSocket hijacking).
    ``allowed`` widens it to further origins (``scheme://host[:port]``), or to any with ``"*"``.
    A request without an ``Origin`` header (a program, not a browser) is allowed: programs are
    held by tokens.

    >>> policy = OriginPolicy()
    >>> policy.allows("http://127.0.0.1:8080", "127.0.0.1:8080")
    True
    >>> policy.allows("https://evil.example", "127.0.0.1:8080"), policy.allows(None, "127.0.0.1:8080")
    (False, True)
    """

    def __init__(self, allowed: Collection[str] = ()) -> None:
        self.allowed = frozenset(o.rstrip("/").lower() for o in allowed)

    def allows(self, origin: str | None, host: str | None = None) -> bool:
        """Whether a request with this ``Origin``, sent to ``host`` (its ``Host`` header), may connect."""
        if origin is None or "*" in self.allowed:
            return True
        if origin.rstrip("/").lower() in self.allowed:
            return True
        parts = urlsplit(origin)
        if not parts.netloc or host is None:
            return False
        return _host(parts.netloc, parts.scheme) == _host(host, parts.scheme)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
"""Sent with every HTTP response (the dashboard, its files, status, metrics); the dashboard has no
inline script or style. ``img-src data:`` is for its inline favicon."""


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp ``on_response_prepare`` hook: :data:`SECURITY_HEADERS` on every HTTP (not WebSocket) response."""
    if not isinstance(response, web.WebSocketResponse):
        response.headers.update(SECURITY_HEADERS)
