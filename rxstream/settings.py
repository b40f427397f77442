"""One settings object for ``rxstream serve``: every setting from a flag, ``RXSTREAM_<NAME>`` or TOML.

Precedence, highest first: command-line flag, environment variable, TOML file, default.
A setting's flag is ``--name-with-dashes``, its environment variable ``RXSTREAM_NAME``
(e.g. ``RXSTREAM_MAX_CONNECTIONS=50``) and its TOML entry ``name = value`` at the top
level of the file (or under ``[rxstream]``). Lists are TOML arrays, or comma-separated
in flags and variables. A bad value raises :class:`~rxstream.errors.ConfigError`
naming the setting and where it came from.

>>> Settings.load(env={"RXSTREAM_MAX_CONNECTIONS": "5"}).max_connections
5
>>> Settings.load(env={"RXSTREAM_PING_INTERVAL": "soon"})
Traceback (most recent call last):
rxstream.errors.ConfigError: setting 'ping_interval': expected a number, got 'soon' (from RXSTREAM_PING_INTERVAL)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .addresses import parse_address
from .errors import ConfigError

__all__ = ["Settings"]

_SECRET = {"auth_secret"}


def _opt(default: Any, help_: str, *, minimum: float | None = None, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help_, "minimum": minimum, "choices": choices})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``rxstream serve`` can be told; defaults as in docs/configuration.md."""

    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(8080, "port to listen on", minimum=0)
    max_connections: int = _opt(100, "WebSocket connections at once; the next gets close 1013", minimum=1)
    ping_interval: float = _opt(
        30.0, "seconds of silence before a client is pinged; no answer in half that and it is dropped", minimum=0.1
    )
    replay_speed: float = _opt(1.0, "replay speed of the demo session (1 = real time)", minimum=0.001)
    replay_file: str | None = _opt(None, "tick file to replay (default: the bundled EUR/USD session)")
    replay_loop: bool = _opt(True, "start the replay again when it ends")
    pipelines: str | None = _opt(None, "pipelines folder (default: the bundled pipelines, whatever the current"
                                 " directory holds)")
    history_size: int = _opt(1000, "messages kept per lossless topic for resume", minimum=1)
    queue_limit: int = _opt(1000, "lossless messages a client may fall behind before it is closed as slow (4008);"
                            " half the history if that is smaller, so it can always resume", minimum=1)
    max_batch: int = _opt(256, "messages per coalesced frame at most", minimum=1)
    max_frame_size: int = _opt(65536, "largest client frame in bytes; larger gets an error (4x closes 1009)",
                               minimum=64)
    max_messages_per_frame: int = _opt(64, "messages in one client array frame at most", minimum=1)
    inbound_rate: float = _opt(20.0, "client messages per second allowed (token bucket); past it, close 4029",
                               minimum=0.001)
    inbound_burst: int = _opt(40, "client messages allowed in a burst", minimum=1)
    close_timeout: float = _opt(5.0, "seconds to wait for a closing handshake before dropping the socket",
                                minimum=0.01)
    error_threshold: int = _opt(10, "consecutive errors after which a stream is unhealthy", minimum=1)
    stale_after: float = _opt(300.0, "seconds without an update after which a stream that should tick is unhealthy",
                              minimum=0.001)
    stream_stale_after: tuple[str, ...] = _opt(
        (), "per-stream staleness over what the pipeline declares: NAME=SECONDS or NAME=never, "
        "e.g. portfolio_updates=3600,signals=never"
    )
    health_interval: float = _opt(1.0, "seconds between pushes of changed stream health on the stream_health topic"
                                  " (0: never)", minimum=0.0)
    auth_secret: str | None = _opt(None, "HMAC secret for JWT tokens; set to require a token (never shown)")
    auth_algorithm: str = _opt("HS256", "JWT algorithm", choices=("HS256", "HS384", "HS512"))
    allowed_origins: tuple[str, ...] = _opt(
        (), "browser Origins allowed to connect besides the page's own (same-origin by default; * for any)"
    )
    auth_secret_file: str | None = _opt(None, "file holding the HMAC secret instead of auth_secret (kept out of ps)")
    protect_status: bool = _opt(False, "require a token on /websocket/status and /metrics too (needs a secret)")
    ibkr: str | None = _opt(None, "HOST:PORT of TWS/IB Gateway: stream from the broker instead of the replay")
    ibkr_client_id: int = _opt(17, "IBKR API client id", minimum=0)
    symbols: tuple[str, ...] = _opt(("EURUSD",), "symbols to subscribe at the broker")
    pipeline_settings: tuple[str, ...] = _opt(
        (), "NAME=VALUE settings for the pipelines (ctx.setting), e.g. ma_fast=10"
    )
    log_level: str = _opt("INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    bus: str | None = _opt(None, "redis://HOST:PORT/DB: the Redis bus shared by an ingest and gateways"
                           " (unset: in memory, one process)")
    history_seconds: float = _opt(600.0, "seconds of messages kept per topic on the Redis bus for resume and"
                                  " rewind (with history_size, whichever is reached first)", minimum=0.001)
    standby: bool = _opt(False, "ingest: wait for the running ingest's lease to expire, then take over")
    lease_seconds: float = _opt(5.0, "ingest: time to live of the write lease; a standby takes over within it",
                                minimum=0.1)
    bus_buffer: int = _opt(100000, "ingest: messages buffered while Redis is away (past it the oldest are"
                           " dropped)", minimum=1)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f, getattr(self, f.name), "value")
        if self.ibkr is not None:
            parse_address(self.ibkr)
        self.stale_overrides()

    # --- sources ----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        args: argparse.Namespace | Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config: str | Path | None = None,
    ) -> Settings:
        """Merge defaults, the TOML ``config`` file, ``env`` (``os.environ`` if None) and parsed ``args``."""
        env = os.environ if env is None else env
        given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        config = config or given.get("config") or env.get("RXSTREAM_CONFIG")
        values: dict[str, Any] = {}
        if config:
            values.update(_from_toml(Path(config)))
        for f in fields(cls):
            var = f"RXSTREAM_{f.name.upper()}"
            if var in env:
                values[f.name] = _parse(f, env[var], var)
        for f in fields(cls):
            if given.get(f.name) is not None:
                raw = given[f.name]
                if isinstance(raw, list | tuple) and _kind(f) == "tuple":
                    raw = ",".join(str(part) for part in raw)
                values[f.name] = _parse(f, raw, _flag(f.name)) if isinstance(raw, str) else raw
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """A ``--flag`` per setting (all default to None, so unset flags do not override env or TOML)."""
        parser.add_argument("--config", metavar="FILE.toml", help="TOML file of settings (env RXSTREAM_CONFIG)")
        for f in fields(cls):
            default = f.default
            shown = ",".join(default) if isinstance(default, tuple) else default
            if f.name in _SECRET:
                shown = "unset"
            help_ = f"{f.metadata['help']} [env RXSTREAM_{f.name.upper()}; default {shown}]"
            nargs = "+" if _kind(f) == "tuple" else "?" if _kind(f) == "bool" else None
            const = "true" if _kind(f) == "bool" else None  # a bare --standby means --standby true
            parser.add_argument(_flag(f.name), dest=f.name, metavar=_metavar(f), default=None, help=help_,
                                nargs=nargs, const=const)

    def public(self) -> dict[str, Any]:
        """The settings as JSON-ready values, secrets replaced by whether they are set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET:
                out[f.name.replace("secret", "enabled")] = value is not None
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)

    def stale_overrides(self) -> dict[str, float | None]:
        """``stream_stale_after`` by stream name: seconds, or None for never stale."""
        out: dict[str, float | None] = {}
        for entry in self.stream_stale_after:
            name, sep, text = entry.partition("=")
            name, text = name.strip(), text.strip().lower()
            if not sep or not name:
                raise ConfigError("stream_stale_after", f"expected NAME=SECONDS or NAME=never, got {entry!r}")
            if text in ("never", "none"):
                out[name] = None
                continue
            try:
                seconds = float(text)
            except ValueError:
                seconds = math.nan
            if not 0 < seconds < 1e9:
                reason = f"{name}: expected seconds (0 < s < 1e9) or never, got {text!r}"
                raise ConfigError("stream_stale_after", reason)
            out[name] = seconds
        return out

    def ibkr_address(self) -> tuple[str, int] | None:
        """``ibkr`` split into host and port."""
        return parse_address(self.ibkr) if self.ibkr else None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(f: dataclasses.Field[Any]) -> str:
    kind = _kind(f)
    return {"int": "N", "float": "SECONDS" if "interval" in f.name or "timeout" in f.name else "X",
            "bool": "BOOL", "tuple": "A"}.get(kind, "TEXT")


def _kind(f: dataclasses.Field[Any]) -> str:
    t = str(f.type)
    for kind in ("tuple", "bool", "int", "float"):
        if t.startswith(kind):
            return kind
    return "str"


def _parse(f: dataclasses.Field[Any], raw: str, where: str) -> Any:
    kind = _kind(f)
    text = raw.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        word = "an integer" if kind == "int" else "a number"
        raise ConfigError(f.name, f"expected {word}, got {raw!r} (from {where})") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f.name, f"expected true or false, got {raw!r} (from {where})")
    if kind == "tuple":
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text or None


def _check(f: dataclasses.Field[Any], value: Any, where: str) -> None:
    kind = _kind(f)
    optional = "None" in str(f.type)
    if value is None:
        if optional:
            return
        raise ConfigError(f.name, "must be set")
    ok = {
        "int": type(value) is int,
        "float": type(value) in (int, float) and math.isfinite(value),
        "bool": type(value) is bool,
        "tuple": isinstance(value, tuple) and all(isinstance(v, str) for v in value),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        raise ConfigError(f.name, f"expected {kind}, got {value!r}")
    minimum = f.metadata.get("minimum")
    if minimum is not None and value < minimum:
        raise ConfigError(f.name, f"must be at least {minimum:g}, got {value!r}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f.name, f"expected one of {', '.join(choices)}, got {value!r}")
    if f.name == "port" and value > 65535:
        raise ConfigError(f.name, f"must be at most 65535, got {value!r}")


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: {exc}") from None
    if isinstance(data.get("rxstream"), dict):
        data = {**{k: v for k, v in data.items() if k != "rxstream"}, **data["rxstream"]}
    known = {f.name: f for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, value in data.items():
        f = known.get(name)
        if f is None:
            raise ConfigError(name, f"unknown setting in {path}")
        if _kind(f) == "tuple" and isinstance(value, list):
            value = tuple(value)
        elif _kind(f) == "float" and type(value) is int:
            value = float(value)
        try:
            _check(f, value, str(path))
        except ConfigError as exc:
            raise ConfigError(name, f"{exc.reason} (in {path})") from None
        out[name] = value
    return out
