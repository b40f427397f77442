"""How a subscription starts: resume from ``since``, ``rewind``, or a snapshot; and what ``reset`` says.

:func:`start` reads the bus and decides, for one topic of a ``subscribe``, the ``subscribed``
reply, the ``snapshot`` or the messages to replay, and where the subscription's cursor starts.

* ``since`` in the same epoch and still in the history: ``recovered: true``, the missed messages follow.
* ``since`` outside the history, or another epoch: ``recovered: false``, ``reset: true`` and a
  snapshot (a state topic's latest per key; a lossless topic's whole history window).
* No ``since``: a state topic gets its snapshot (the latest per key, to merge); a lossless topic
  gets the ``rewind`` asked for (as ordinary ``data`` messages), or only what comes next.
  ``reset: true`` if the ``epoch`` sent is not the server's (what the client holds is from
  another numbering).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..bus import Bus, Message
from .messages import snapshot, subscribed
from .outbox import Entry
from .protocol import Subscribe

__all__ = ["Start", "start"]


@dataclass(frozen=True, slots=True)
class Start:
    """The beginning of one topic's subscription."""

    reply: dict[str, Any]
    snapshot: bytes | None
    replay: Entry | None
    position: int
    """The last seq the client is given or holds: the cursor starts here."""
    delivered: int
    """Where the client resumes from if it is closed before the replay is written."""
    recovered: bool | None


def start(bus: Bus, topic: str, action: Subscribe, max_rate: float | None) -> Start:
    """How ``topic`` of ``action`` starts, from the bus's state now."""
    spec = bus.topics[topic]
    epoch, last = bus.epoch, bus.last_seq(topic)
    symbols = action.symbols

    def wanted(messages: list[Message]) -> list[bytes]:
        return [m.payload for m in messages if symbols is None or m.symbol is None or m.symbol in symbols]

    missed: list[Message] | None = None
    recovered: bool | None = None
    delivered = last
    if topic in action.since:
        if action.epoch == epoch:
            missed = bus.since(topic, action.since[topic])
        recovered = missed is not None
        if recovered:
            delivered = action.since[topic]
    elif action.rewind is not None and spec.policy == "lossless":
        missed = bus.recent(topic, count=action.rewind.count, seconds=action.rewind.seconds)
        if missed:
            delivered = missed[0].seq - 1
    reset = recovered is False or (action.epoch is not None and action.epoch != epoch)
    reply = subscribed(topic, spec.policy, last, epoch, symbols=symbols, max_rate=max_rate, id=action.id,
                       recovered=recovered, reset=reset)
    frame: bytes | None = None
    replay: Entry | None = None
    if spec.policy == "state":
        frame = snapshot(topic, last, epoch, wanted(bus.snapshot(topic)))
    elif recovered is False:
        frame = snapshot(topic, last, epoch, wanted(bus.recent(topic, count=spec.history)))
    elif missed:
        payloads = wanted(missed)
        if payloads:
            replay = Entry(b",".join(payloads), topic, missed[-1].seq, time.monotonic(), len(payloads))
    return Start(reply, frame, replay, last, delivered, recovered)
