"""A TLS terminator in front of the embedded broker, for end-to-end tests of our TLS clients.

The embedded broker (Tansu 0.6) serves no TLS: its `--cert` refuses the `--key` it needs, and with
a certificate alone it still speaks plaintext. So the test puts this proxy in front of it: clients
connect with TLS (server certificate checked against the test CA, hostname included; client
certificate required), the proxy forwards the bytes to the broker, and the broker advertises the
proxy's address so every later connection goes through TLS too. A client whose TLS settings do
not reach its connection cannot talk to this broker at all.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from typing import Any


class TlsTerminator:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound now, so the broker can advertise the port
        self.port = int(self.sock.getsockname()[1])
        self.upstream: tuple[str, int] | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tls-terminator", daemon=True)
        self.handshakes = 0
        self.refused: list[str] = []  # failed handshakes, as the event loop reports them
        self.loop.set_exception_handler(lambda _loop, ctx: self.refused.append(str(ctx.get("exception") or ctx["message"])))

    def start(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._connection, sock=self.sock, ssl=self.context,
                                                 ssl_handshake_timeout=10)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        assert self.upstream is not None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> "TlsTerminator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
