"""A real ``redis-server`` for the tests: a free port, a temporary directory, stopped afterwards.

Debian's ``redis-server`` (installed by ``.ci/run``). Without it the Redis tests
are skipped with a clear reason, except under ``CI=true``, where they fail: CI
must run them. No fake Redis stands in for it. :class:`ReplyCutter` sits between
a client and it on real TCP, to lose a reply the way a network cut does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from polling import eventually

__all__ = ["RedisServer", "ReplyCutter", "eventually", "free_port", "require_redis_server", "running_redis"]

READY = b"Ready to accept connections"
"""What redis-server logs once it has loaded its data and serves clients (7.0; 7.2 adds " tcp")."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_redis_server() -> str:
    """The path of ``redis-server``; skip (fail under CI=true) when it is missing."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    reason = "redis-server is not installed (apt-get install redis-server)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true requires the Redis tests to run, but {reason}; .ci/run installs it")
    pytest.skip(f"make test skipped a Redis test: {reason}")


class RedisServer:
    """One ``redis-server`` process with append-only persistence in ``directory``; restartable on its port."""

    def __init__(self, executable: str, directory: Path, port: int | None = None) -> None:
        self.executable = executable
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log: deque[bytes] = deque(maxlen=200)
        """The last lines redis-server logged (read by a thread while it runs)."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start redis-server; return once it logs that it accepts connections (its own word, no polling).

        Its log goes to a pipe (``--logfile ""``: standard output), read here with a deadline;
        then a thread reads the rest to the end, so redis-server never blocks on a full pipe.
        """
        process = self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
             "--logfile", ""],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        self.log = deque(maxlen=200)
        rest: bytes | None = None
        try:
            rest = _read_until(process.stdout, READY, self.log, timeout)
        finally:
            if rest is None:  # not ready: it exited (end of its log), or the deadline passed, or we were stopped
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(1)
                code = process.poll()
                if code is None:
                    process.kill()
                    process.wait()
                process.stdout.close()
                self.process = None
        if rest is None:
            state = f"exited with {code}" if code is not None else f"was not ready within {timeout} s"
            raise RuntimeError(f"redis-server {state}; its log:\n{b''.join(self.log).decode(errors='replace')}")
        threading.Thread(
            target=_drain, args=(process.stdout, rest, self.log), name=f"redis-server {self.port} log", daemon=True,
        ).start()

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` on a free port, data in ``directory``; stopped on leaving (a test file's fixture)."""
    server = RedisServer(require_redis_server(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _read_until(pipe: IO[bytes], marker: bytes, lines: deque[bytes], timeout: float) -> bytes | None:
    """Read ``pipe`` into ``lines`` until a line holds ``marker``; return what was read past that line.

    ``None`` at end of file (the process exited) or once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    fd = pipe.fileno()
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                lines.append(pending)
                return None
            *complete, pending = (pending + chunk).split(b"\n")
            for number, line in enumerate(complete):
                lines.append(line + b"\n")
                if marker in line:
                    return b"\n".join([*complete[number + 1:], pending])
    return None


def _drain(pipe: IO[bytes], rest: bytes, lines: deque[bytes]) -> None:
    """Keep reading the log to its end (the process's exit), so its writes never block."""
    lines.extend(line + b"\n" for line in rest.splitlines())
    with pipe:
        while chunk := os.read(pipe.fileno(), 65536):
            lines.extend(chunk.splitlines(keepends=True))


class ReplyCutter:
    """A TCP relay in front of a redis-server that can lose one reply, as a network cut would.

    Commands always reach Redis. After :meth:`lose_next_reply`, the next bytes Redis sends back
    are dropped and that client's connection is closed: the client cannot know whether its
    command ran (it did). Use as ``async with ReplyCutter(port) as relay`` and connect to ``relay.url``.
    """

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.lost = asyncio.Event()
        """Set once a reply has been dropped."""
        self._armed = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    def lose_next_reply(self) -> None:
        """Drop the next reply any client gets, and cut that client's connection."""
        self._armed = True

    async def __aenter__(self) -> ReplyCutter:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._relays, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        redis_in, redis_out = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers.update((client_out, redis_out))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, replies: bool) -> None:
            try:
                while data := await source.read(65536):
                    if replies and self._armed:
                        self._armed = False
                        self.lost.set()
                        return
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                for writer in (client_out, redis_out):
                    writer.close()

        try:
            await asyncio.gather(pump(client_in, redis_out, False), pump(redis_in, client_out, True))
        finally:
            self._writers.difference_update((client_out, redis_out))
            self._relays.discard(task)
