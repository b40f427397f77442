"""A client's resume rules, sans I/O: which received messages to apply, drop, or start over from.

:class:`ResumeState` is fed every server message a client receives, in order, and answers with
:class:`Decision` s; it asks nothing of a socket or a clock. The rules are specified once, as test
vectors in ``tests/data/resume_vectors.json``, which this module (the Python client's) and the
dashboard's ``rxstream/gateway/static/resume.js`` both pass:

* ``yield`` a data message (alone, or an item of a snapshot): apply or record it;
* ``duplicate``: drop it, it was applied already (its ``seq`` is not after the last one applied,
  or it is a fill whose ``exec_id`` is already held);
* ``gap``: this many messages of a lossless topic never arrived before the next one;
* ``reset``: discard everything held for the topic, because the server said so in ``subscribed``
  (``reset: true``), or, from a server that does not say, ``recovered: false`` or another epoch;
* ``snapshot``: the items that follow are the topic's whole state (replace, do not merge).

::

    state = ResumeState()
    subscribe = {"type": "subscribe", "topics": topics, **(state.resume(topics) or {})}
    for message in messages:
        for decision in state.receive(message):
            ...
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Action", "Decision", "ResumeState"]

Action = Literal["yield", "duplicate", "gap", "reset", "snapshot"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do: ``action`` on ``topic``; ``value`` is the seq (yield, duplicate) or the missing count (gap)."""

    action: Action
    topic: str
    value: int | None = None
    message: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The data message to apply or drop (yield, duplicate)."""


class ResumeState:
    """The epoch, the last seq applied per topic and the fills held: enough to resume and never apply twice.

    Args:
        max_exec_ids: Fill ``exec_id`` s remembered per topic (the oldest are forgotten first).
    """

    def __init__(self, *, max_exec_ids: int = 50_000) -> None:
        self.epoch: str | None = None
        self.last_seq: dict[str, int] = {}
        self.policies: dict[str, str] = {}
        self.gaps = 0
        self.duplicates = 0
        self.resets = 0
        self.epoch_changes = 0
        self._epoch_of: dict[str, str] = {}
        self._exec_ids: dict[str, OrderedDict[str, None]] = {}
        self._max_exec_ids = max_exec_ids

    def resume(self, topics: Sequence[str], *, backfill: bool = False) -> dict[str, Any] | None:
        """The ``epoch`` and ``since`` a subscribe to ``topics`` carries, or ``None`` for a fresh one.

        Lossless topics held in the current epoch resume after their last seq; with ``backfill``,
        lossless topics not held yet ask for the server's history from seq 0. State topics always
        get a snapshot, so they are never resumed by seq.
        """
        if self.epoch is None:
            return None
        since: dict[str, int] = {}
        for topic in topics:
            policy = self.policies.get(topic)
            if policy == "state":
                continue
            if topic in self.last_seq and self._epoch_of.get(topic) == self.epoch:
                since[topic] = self.last_seq[topic]
            elif backfill and policy == "lossless":
                since[topic] = 0
        return {"epoch": self.epoch, "since": since} if since else None

    def receive(self, message: Mapping[str, Any]) -> list[Decision]:
        """The decisions for one server message (``[]`` for those that change nothing to apply)."""
        kind = message.get("type")
        if kind == "data":
            return self._data(message, message["topic"])
        if kind == "snapshot":
            return self._snapshot(message)
        if kind == "subscribed":
            return self._subscribed(message)
        if kind == "welcome":
            self.policies.update(message.get("policies") or {})
            if self.epoch is None:
                self.epoch = message.get("epoch")
        return []

    def is_reset(self, message: Mapping[str, Any]) -> bool:
        """Whether a ``subscribed`` message means: discard what is held for its topic."""
        said = message.get("reset")
        if isinstance(said, bool):
            return said
        topic = message["topic"]
        moved = topic in self.last_seq and self._epoch_of.get(topic) != message.get("epoch")
        return message.get("recovered") is False or moved

    # --- the rules --------------------------------------------------------------------------

    def _subscribed(self, message: Mapping[str, Any]) -> list[Decision]:
        topic = message["topic"]
        epoch = message.get("epoch")
        if message.get("policy"):
            self.policies[topic] = message["policy"]
        reset = self.is_reset(message)
        if epoch is not None and epoch != self.epoch:
            if self.epoch is not None:
                self.epoch_changes += 1
            self.epoch = epoch
        if epoch is not None:
            self._epoch_of[topic] = epoch
        if reset:
            self.resets += 1
            self.last_seq[topic] = message["seq"]
            self._exec_ids.pop(topic, None)
            return [Decision("reset", topic)]
        if message.get("recovered") is True:
            self.last_seq.setdefault(topic, 0)  # the missed messages follow
        else:
            self.last_seq[topic] = message["seq"]  # a fresh subscription: live data follows
        return []

    def _snapshot(self, message: Mapping[str, Any]) -> list[Decision]:
        topic = message["topic"]
        self.last_seq[topic] = 0
        self._exec_ids.pop(topic, None)
        out = [Decision("snapshot", topic)]
        for item in message.get("items") or ():
            out.extend(self._data(item, topic, in_snapshot=True))
        self.last_seq[topic] = max(self.last_seq[topic], message["seq"])
        if message.get("epoch") is not None:
            self._epoch_of[topic] = message["epoch"]
        return out

    def _data(self, message: Mapping[str, Any], topic: str, *, in_snapshot: bool = False) -> list[Decision]:
        seq = message["seq"]
        last = self.last_seq.get(topic)
        if last is not None and seq <= last:
            self.duplicates += 1
            return [Decision("duplicate", topic, seq, message)]
        out: list[Decision] = []
        self.last_seq[topic] = seq
        if topic not in self._epoch_of and message.get("epoch") is not None:
            self._epoch_of[topic] = message["epoch"]
        if (
            not in_snapshot
            and last is not None
            and seq > last + 1
            and self.policies.get(topic, "lossless") == "lossless"
        ):
            self.gaps += seq - last - 1
            out.append(Decision("gap", topic, seq - last - 1))
        if self._held_fill(topic, message.get("data")):
            self.duplicates += 1
            out.append(Decision("duplicate", topic, seq, message))
        else:
            out.append(Decision("yield", topic, seq, message))
        return out

    def _held_fill(self, topic: str, data: Any) -> bool:
        """Whether ``data`` is a fill already held; remembers it if not."""
        exec_id = data.get("exec_id") if isinstance(data, Mapping) else None
        if exec_id is None:
            return False
        held = self._exec_ids.setdefault(topic, OrderedDict())
        key = str(exec_id)
        if key in held:
            return True
        held[key] = None
        if len(held) > self._max_exec_ids:
            held.popitem(last=False)
        return False
