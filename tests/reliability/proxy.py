"""A TCP proxy that can slow a service's database: every chunk the service sends waits `delay`.

It runs its own event loop in a thread, so it keeps forwarding while the test's loop is
busy or blocked. With `delay` at 0 it only forwards; a scenario raises it to make each
statement (one or a few packets with asyncpg) that much slower, then sets it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = 0.0  # seconds added before forwarding each chunk towards the database
        self.port = 0
        self.chunks_delayed = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> int:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()  # the database is down: so is its proxy
            return
        await asyncio.gather(
            self._pipe(client_r, server_w, slow=True),
            self._pipe(server_r, client_w, slow=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if slow and self.delay:
                    self.chunks_delayed += 1
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
