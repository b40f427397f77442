"""The golden replay: every shipped pipeline over the bundled session, hashed.

Optimisations of the engine, the replay, the hub, the operators or the tick
reader must not change what a replay produces, nor when. Each pipeline's
output is written the way ``rxstream replay`` writes it, each line prefixed
with the virtual time it was emitted at, and hashed; the hashes are committed
here. A change that alters semantics changes a hash.

The bundled session holds only ticks; positions and fills are derived from it
deterministically (with every fill sent twice, as a broker does after a
reconnect) so that every shipped pipeline has input. If a hash changes on
purpose (a pipeline's behaviour was changed deliberately), print the new ones
with ``python tests/test_golden_replay.py`` and say why in the commit.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from rxstream import Engine, ReplayScheduler, replay_virtual
from rxstream.events import Event, Fill, PositionUpdate, Tick, dumps
from rxstream.pipelines import builtin_pipelines_dir, load_pipelines
from rxstream.tickfile import bundled_session, encode_event, read_events, write_events

GOLDEN = {
    "bars_1m": "0ea1440685391eabd5eb95667ace3371510d1606c15ce3c05b7b8c683fe9eeee",
    "ma_crossover": "e44b8fd5f888222d1bb49a9c12616144f3bf3c14c6426ef256161647ae88d0c4",
    "portfolio_updates": "7f76ebcf4139c9a2fc7efdba3fa299dda3a5a990585871d79e4f669b731f8698",
    "price_updates": "4e08488a90cd7f064c11f0fe3aefaa85b57406b954d8a2f271fd2404da9cb8b9",
    "signals": "7d0d86b26af088c234b2eb4576629e8962515be859b2d7d875e569ce5f3e4766",
    "trade_executions": "b9baa4fbcea74c1b3ec413800b32ccc1827c14b67a31c89ec239bf75e8293419",
}
"""sha256 of each pipeline's output (``TIME LINE`` per emitted value) over :func:`golden_events`."""


def golden_events() -> Iterator[Event]:
    """The bundled session, with a fill (sent twice) and two position updates every 97th tick."""
    position = 0.0
    for index, event in enumerate(read_events(bundled_session())):
        yield event
        if index % 97 == 96 and isinstance(event, Tick) and event.bid is not None:
            side = "BUY" if (index // 97) % 3 else "SELL"
            quantity = 1000.0 * (1 + index % 5)
            position += quantity if side == "BUY" else -quantity
            fill = Fill(f"{index:06d}", index // 97, "DU1", event.symbol, side, quantity, event.bid, 2.0, event.time)
            yield fill
            yield fill._replace(time=event.time + timedelta(milliseconds=1))  # a broker resending it
            update = PositionUpdate("DU1", event.symbol, position, event.bid, event.time + timedelta(milliseconds=1))
            yield update
            yield update._replace(avg_cost=event.ask, time=event.time + timedelta(milliseconds=2))  # conflated


def _line(value: Any) -> bytes:
    return encode_event(value) if hasattr(value, "to_dict") else dumps(value) + b"\n"


def replay_hashes(events: Iterator[Event]) -> dict[str, str]:
    """Replay ``events`` through every shipped pipeline in one engine; sha256 per pipeline output."""
    first = next(events)
    scheduler = ReplayScheduler(first.time)
    engine = Engine(pipelines=load_pipelines(builtin_pipelines_dir()), scheduler=scheduler, publish=False)
    engine.start()
    digests = {name: hashlib.sha256() for name in engine.pipelines}
    for name, digest in digests.items():

        def record(value: Any, digest: Any = digest) -> None:
            digest.update(scheduler.now.isoformat().encode() + b" " + _line(value))

        engine.outputs[name].subscribe(record)

    def chained() -> Iterator[Event]:
        yield first
        yield from events

    replay_virtual(chained(), engine)
    engine.stop()
    return {name: digest.hexdigest() for name, digest in sorted(digests.items())}


def test_every_shipped_pipeline_replays_the_session_exactly_as_committed() -> None:
    assert replay_hashes(golden_events()) == GOLDEN


def test_the_golden_hashes_hold_when_read_back_from_a_tick_file(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl.gz"
    write_events(path, golden_events(), source="golden")
    assert replay_hashes(read_events(path)) == GOLDEN
    with gzip.open(path) as handle:  # the file is what the writer is documented to write
        assert handle.readline().startswith(b'{"format":"rxstream.ticks"')


if __name__ == "__main__":
    for name, value in replay_hashes(golden_events()).items():
        print(f'    "{name}": "{value}",')
