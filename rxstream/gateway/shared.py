"""The fan-out's common case: clients in step on one topic share one frame and cost one write each.

:class:`~rxstream.gateway.broadcaster.Broadcaster` runs this pass first, once per loop
turn and topic; whoever it does not serve (behind, blocked, closing, on several topics,
with something queued) it hands back for the general path, which keeps ordering,
lossless resume, slow-consumer closes and conflation.
"""

from __future__ import annotations

import time

from .channel import Channel
from .logs import ReadCache, TopicLogs
from .metrics import GatewayMetrics
from .outbox import Entry
from .slow import SlowConsumers
from .subscription import Subscription

__all__ = ["SharedFrames"]


class SharedFrames:
    """The pass over a topic's readers that are due exactly one frame of it and nothing else."""

    __slots__ = ("logs", "max_batch", "metrics", "slow")

    def __init__(self, logs: TopicLogs, max_batch: int, metrics: GatewayMetrics, slow: SlowConsumers) -> None:
        self.logs = logs
        self.max_batch = max_batch
        self.metrics = metrics
        self.slow = slow

    def __call__(self, topic: str, readers: dict[Channel, Subscription], dirty: set[Channel], cache: ReadCache) -> None:
        """The common case, at the cost of one write per client: every reader of ``topic`` due one frame of
        it and nothing else gets the frame built once for its place in the log; the metrics are counted once.

        Any other reader (blocked, closing, further behind than a frame, with something queued, or on
        more than one topic) is added to ``dirty`` for the general path.
        """
        last = self.logs[topic].last_seq
        max_batch, read, monotonic = self.max_batch, self.logs.read, time.monotonic
        latency = self.metrics.latency
        entry: Entry | None = None
        frame = b""
        at = -1  # the position ``entry`` was read from
        ages: list[float] = []
        messages = frames = nbytes = 0
        for channel, sub in list(readers.items()):  # a write may end a connection, which leaves readers
            position = sub.position
            due = last - position
            if due <= 0:
                continue
            if (due > max_batch or channel.blocked or channel.outbox is not None or len(channel.subscriptions) != 1
                    or channel.connection.closing is not None or channel in dirty):
                dirty.add(channel)
                continue
            if position == at:  # the same place as the client before: the same entry, and the cursor moves on
                sub.position = last
            else:
                entries = read(sub, cache)  # one entry: at most max_batch messages, still in the log
                assert entries is not None and len(entries) == 1, "a reader due at most one frame reads one entry"
                if ages and entry is not None:
                    latency.observe_each(ages, entry.messages)
                    ages = []
                entry, at = entries[0], position
                frame = entry.payload if entry.messages == 1 else b"[" + entry.payload + b"]"
            assert entry is not None
            if channel.write_shared(frame, entry, sub):
                ages.append(monotonic() - entry.enqueued)
                messages += entry.messages
                nbytes += len(entry.payload)
                frames += 1
                if channel.blocked:
                    self.slow.check(channel)
        if frames:
            assert entry is not None
            latency.observe_each(ages, entry.messages)
            self.metrics.messages_sent[topic] += messages
            self.metrics.bytes_sent[topic] += nbytes
            self.metrics.frames_sent += frames
