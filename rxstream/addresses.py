"""Network addresses: the one ``HOST:PORT`` parser, and listening sockets bound before anything starts.

>>> parse_address("gateway.local:4002")
('gateway.local', 4002)
>>> parse_address("[::1]:7497")
('::1', 7497)
>>> parse_address("7497", setting="--ibkr")
Traceback (most recent call last):
rxstream.errors.ConfigError: setting '--ibkr': expected HOST:PORT, got '7497'
"""

from __future__ import annotations

import errno
import socket

from .errors import ConfigError

__all__ = ["bind_listening", "parse_address"]


def parse_address(text: str, *, setting: str = "ibkr") -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → ``(host, port)``; a bad one raises a
    :class:`~rxstream.errors.ConfigError` naming ``setting``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(setting, f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def bind_listening(host: str, port: int, *, setting: str = "port") -> list[socket.socket]:
    """Bind ``host:port`` now (every address ``host`` resolves to), so that a busy port is
    reported before any feed or engine starts; hand the sockets to the server.

    A port in use raises :class:`~rxstream.errors.ConfigError` naming ``setting``
    (``cannot listen on 127.0.0.1:8080: address already in use``); a host that does
    not resolve names ``host``. Port 0 picks a free port.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError("host", f"cannot resolve {host!r}: {error.strerror}") from None
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as error:
        for sock in bound:
            sock.close()
        reason = "address already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
        raise ConfigError(setting, f"cannot listen on {host}:{port}: {reason}") from None
    return bound
