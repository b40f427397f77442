"""Optional authentication: signed, expiring JWTs (PyJWT) naming the allowed topics; an Origin allowlist.

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

import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

import jwt

from ..errors import AuthError, ConfigError
from .protocol import ErrorCode, Grant

__all__ = ["OriginPolicy", "TokenAuth"]


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
        if not isinstance(exp, int | float):
            raise AuthError(ErrorCode.INVALID_TOKEN.value, "invalid token: 'exp' is not a number")
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


class OriginPolicy:
    """An allowlist of ``Origin`` header values; empty allows every origin.

    A request without an ``Origin`` header (a program, not a browser) is allowed: the check
    exists to stop other web pages from using a visitor's browser (cross-site WebSocket
    hijacking); programs are held by tokens.
    """

    def __init__(self, allowed: Collection[str] = ()) -> None:
        self.allowed = frozenset(o.rstrip("/") for o in allowed)

    def allows(self, origin: str | None) -> bool:
        """Whether a request with this ``Origin`` may open a WebSocket."""
        if not self.allowed or "*" in self.allowed:
            return True
        return origin is None or origin.rstrip("/") in self.allowed
