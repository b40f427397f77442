from __future__ import annotations

import asyncio
import threading

from rxstream.bridge import from_callback_list, from_callbacks


async def test_callbacks_from_many_threads_arrive_on_the_loop_in_order() -> None:
    loop = asyncio.get_running_loop()
    callbacks: list = []
    received: list[tuple[int, int]] = []
    threads_seen: set[int] = set()
    done = asyncio.Event()
    total = 4 * 250

    def on_value(value: tuple[int, int]) -> None:
        threads_seen.add(threading.get_ident())
        received.append(value)
        if len(received) == total:
            done.set()

    subscription = from_callback_list(callbacks, loop=loop).subscribe(on_value)

    def producer(n: int) -> None:
        for i in range(250):
            for callback in list(callbacks):
                callback((n, i))

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.wait_for(done.wait(), timeout=10)
    for thread in threads:
        thread.join()
    assert threads_seen == {threading.get_ident()}  # all delivered on the loop's thread
    for n in range(4):  # each thread's callbacks in the order it made them
        assert [i for m, i in received if m == n] == list(range(250))
    subscription.dispose()
    assert callbacks == []


async def test_dispose_unregisters_and_late_calls_are_dropped() -> None:
    loop = asyncio.get_running_loop()
    registered: list = []
    received: list = []
    subscription = from_callbacks(
        registered.append, registered.remove, loop=loop, transform=lambda trade, fill: (trade, fill)
    ).subscribe(received.append)
    handler = registered[0]
    handler("trade-1", "fill-1")
    delivered = loop.create_future()
    loop.call_soon_threadsafe(delivered.set_result, None)  # queued behind trade-1
    await asyncio.wait_for(delivered, timeout=5)
    assert received == [("trade-1", "fill-1")]
    handler("trade-2", "fill-2")  # queued before the dispose below...
    subscription.dispose()
    handler("trade-3", "fill-3")  # ...and this one from a thread that still held the handler
    subscription.dispose()  # twice is harmless
    drained = loop.create_future()
    loop.call_soon_threadsafe(drained.set_result, None)
    await asyncio.wait_for(drained, timeout=5)
    assert received == [("trade-1", "fill-1")]  # nothing reaches a disposed subscriber
    assert registered == []


def test_without_a_loop_values_are_delivered_at_once() -> None:
    callbacks: list = []
    received: list = []
    from_callback_list(callbacks).subscribe(received.append)
    callbacks[0]("x")
    assert received == ["x"]
