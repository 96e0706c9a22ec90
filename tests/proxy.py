"""A byte-for-byte proxy in front of a real server, that a test can cut and restore.

Cutting it drops every open connection and refuses new ones (the listening socket is
closed, a unix socket's file stays behind, as a dead server's does), which is what a
client sees of a server that went away; restoring it listens on the same address again.
It runs on an event loop of its own, in a thread, so it keeps forwarding while the test
awaits.
"""

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Address:
    path: Path | None = None  # a unix socket
    host: str = "127.0.0.1"
    port: int = 0

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.path is not None:
            return await asyncio.open_unix_connection(str(self.path))
        return await asyncio.open_connection(self.host, self.port)


@dataclass
class Proxy:
    listen: Address
    target: Address
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _thread: threading.Thread | None = None

    def start(self) -> "Proxy":
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.restore()
        return self

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def stop(self) -> None:
        self.cut()
        self._call(self._finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        if self.listen.path is not None:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.listen.path))
        else:
            self._server = await asyncio.start_server(
                self._serve, self.listen.host, self.listen.port
            )

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _finish(self) -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self.target.connect()
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
