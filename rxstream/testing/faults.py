"""Scheduled faults for ``rxstream sim --fault``: a small syntax, parsed purely, run against a simulator.

A fault is ``WHEN:WHAT``; ``WHEN`` is seconds after the simulator starts
(``30``, ``30s``, ``2m``, ``1m30s``), ``WHAT`` one of

=====================  ===========================================================
``drop``               close every client connection (TWS restarting)
``refuse=SECONDS``     stop listening for that long (connects fail: ECONNREFUSED)
``reject=N``           accept the next N connections and close them at once
``error=CODE``         send TWS error CODE to every client (1100, 1101, 1102, 2103, 2104, ...)
``stall=SECONDS``      stop writing to clients for that long (the socket stays open, nothing arrives)
=====================  ===========================================================

Add ``@every`` to repeat: ``30s:drop@60s`` drops at 30 s, 90 s, 150 s, ...

>>> parse_fault("30s:drop")
Fault(at=30.0, kind='drop', value=0.0, every=None)
>>> parse_fault("1m:error=1101")
Fault(at=60.0, kind='error', value=1101.0, every=None)
>>> [f.at for f in schedule([parse_fault("10:drop@20")], until=60)]
[10.0, 30.0, 50.0]
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

from ..errors import ConfigError, RxstreamError

__all__ = ["KINDS", "Fault", "FaultTarget", "parse_duration", "parse_fault", "run_faults", "schedule"]

log = logging.getLogger("rxstream.testing.server")

KINDS = {"drop": False, "refuse": True, "reject": True, "error": True, "stall": True}
"""Fault kinds, and whether each takes ``=VALUE``."""

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class Fault(NamedTuple):
    """One scheduled fault: ``kind`` with ``value`` at ``at`` seconds, repeated every ``every`` seconds if set."""

    at: float
    kind: str
    value: float = 0.0
    every: float | None = None

    def describe(self) -> str:
        """The fault in its own syntax, normalised (``30s:error=1101``)."""
        value = f"={self.value:g}" if KINDS[self.kind] else ""
        every = f"@{self.every:g}s" if self.every else ""
        return f"{self.at:g}s:{self.kind}{value}{every}"


def parse_duration(text: str, setting: str = "fault") -> float:
    """``"90"``, ``"90s"``, ``"1m30s"``, ``"1.5m"``, ``"2h"`` → seconds; :class:`ConfigError` otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ConfigError(setting, f"{text!r} is not a duration (like 30, 30s, 2m, 1m30s)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_fault(text: str) -> Fault:
    """Parse ``WHEN:WHAT[=VALUE][@EVERY]``; raises :class:`~rxstream.errors.ConfigError` naming the problem."""
    when, sep, what = text.partition(":")
    if not sep:
        raise ConfigError("fault", f"{text!r}: expected WHEN:WHAT, like 30s:drop or 45s:error=1101")
    what, _, every_text = what.partition("@")
    kind, has_value, value_text = what.strip().lower().partition("=")
    if kind not in KINDS:
        raise ConfigError("fault", f"{text!r}: unknown fault {kind!r} (one of {', '.join(KINDS)})")
    if KINDS[kind] != bool(has_value):
        need = f"{kind}=VALUE" if KINDS[kind] else f"{kind} without a value"
        raise ConfigError("fault", f"{text!r}: write {need}")
    value = 0.0
    if kind == "error":
        if not value_text.strip().isdigit():
            raise ConfigError("fault", f"{text!r}: error needs a numeric TWS code, like error=1100")
        value = float(value_text)
    elif kind == "reject":
        if not value_text.strip().isdigit() or int(value_text) < 1:
            raise ConfigError("fault", f"{text!r}: reject needs a count of connections, like reject=2")
        value = float(value_text)
    elif has_value:
        value = parse_duration(value_text)
    every = parse_duration(every_text) if every_text else None
    if every is not None and every <= 0:
        raise ConfigError("fault", f"{text!r}: the repeat interval must be positive")
    return Fault(parse_duration(when), kind, value, every)


def schedule(faults: Iterable[Fault], until: float) -> Iterator[Fault]:
    """Every occurrence (repeats expanded, ``every`` cleared) due before ``until`` seconds, in time order."""
    occurrences: list[Fault] = []
    for f in faults:
        at = f.at
        while at < until:
            occurrences.append(Fault(at, f.kind, f.value))
            if not f.every:
                break
            at += f.every
    return iter(sorted(occurrences, key=lambda f: f.at))


class FaultTarget(Protocol):
    """What a fault acts on (a :class:`~rxstream.testing.TwsSimulator`)."""

    def drop_connections(self) -> int: ...
    def refuse_connections(self, *, times: int | None = None, seconds: float | None = None) -> None: ...
    def send_error(self, code: int, message: str | None = None, *, req_id: int = -1) -> int: ...
    def stall(self, seconds: float) -> None: ...


def apply(target: FaultTarget, fault: Fault) -> str:
    """Inflict one fault now; returns a line saying what happened."""
    if fault.kind == "drop":
        return f"dropped {target.drop_connections()} connection(s)"
    if fault.kind == "refuse":
        target.refuse_connections(seconds=fault.value)
        return f"refusing connections for {fault.value:g} s"
    if fault.kind == "reject":
        target.refuse_connections(times=int(fault.value))
        return f"closing the next {int(fault.value)} connection(s) at once"
    if fault.kind == "error":
        return f"sent error {int(fault.value)} to {target.send_error(int(fault.value))} client(s)"
    target.stall(fault.value)
    return f"stalled every connection for {fault.value:g} s"


async def run_faults(target: FaultTarget, faults: Iterable[Fault], *, report: bool = True) -> None:
    """Inflict ``faults`` at their times (seconds from now, on the running loop's clock), repeating forever
    those with ``every``; prints one line per fault when ``report``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending = list(faults)
    horizon = 3600.0
    while pending:
        due = list(schedule(pending, horizon))
        for fault in due:
            delay = start + fault.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                done = apply(target, fault)
            except RxstreamError as error:  # the simulator could not (a refusal while stopping, say)
                done = f"not done: {error}"
            line = f"fault at {fault.at:g}s: {fault.kind}: {done}"
            log.info("TWS simulator: %s", line)
            if report:
                print(line, flush=True)
        pending = [f for f in pending if f.every]
        if not pending:
            return
        pending = [Fault(next_at(f, horizon), f.kind, f.value, f.every) for f in pending]
        horizon *= 2


def next_at(fault: Fault, after: float) -> float:
    """The first time a repeating ``fault`` is due at or after ``after``."""
    assert fault.every
    if fault.at >= after:
        return fault.at
    n = -(-(after - fault.at) // fault.every)
    return fault.at + n * fault.every
