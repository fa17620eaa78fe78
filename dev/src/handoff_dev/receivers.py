"""Local receivers for the demo and the tests: a webhook receiver that verifies Standard
Webhooks signatures, and an SMTP sink (aiosmtpd) that keeps the mails it is sent.

`handoff dev --demo` starts both on loopback and prints what arrives, so a newcomer sees
the notices and can click an accept link. The webhook receiver is a small asyncio HTTP/1.1
server, so a test can make it answer slowly, hang, reset or fail on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature matched one of the receiver's secrets


@dataclass(frozen=True)
class Answer:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (the sender's timeout must cut it off)
    reset: bool = False  # close the connection without an answer


Behaviour = Callable[[Received], Answer | Awaitable[Answer]]


def _ok(_: Received) -> Answer:
    return Answer()


class WebhookReceiver:
    """Listens on 127.0.0.1; records every request; verifies it with `secrets` if given."""

    def __init__(
        self,
        secrets: Sequence[str] = (),
        behaviour: Behaviour = _ok,
        on_received: Callable[[Received], None] | None = None,
    ) -> None:
        self.secrets, self.behaviour, self.on_received = list(secrets), behaviour, on_received
        self.received: list[Received] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> WebhookReceiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Until `count` requests have arrived in all; the list of them."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), within
            )
        return list(self.received)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                path = request_line.split(" ")[1] if " " in request_line else "/"
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                got = Received(path, headers, body, self.verify(headers, body))
                self.received.append(got)
                if self.on_received is not None:
                    self.on_received(got)
                async with self.arrived:
                    self.arrived.notify_all()
                answer = self.behaviour(got)
                if not isinstance(answer, Answer):
                    answer = await answer
                if answer.hang:
                    await asyncio.Event().wait()
                if answer.reset:
                    writer.transport.abort()
                    return
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(answer.body)}\r\n{extra}\r\n".encode()
                    + answer.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the receiver is stopping
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps every mail (and can refuse on purpose)."""

    def __init__(self, on_mail: Callable[[EmailMessage], None] | None = None) -> None:
        self.mails: list[EmailMessage] = []
        self.on_mail = on_mail
        self.refuse = False  # answer DATA with 451 (a temporary outage)
        self.refuse_recipients = False  # answer RCPT with 550, quoting the address as servers do
        self.controller: Any = None
        self.port = 0

    def start(self, port: int = 0) -> SmtpSink:
        from aiosmtpd.controller import Controller

        from handoff_dev.ports import free_port

        sink = self

        class Handler:
            async def handle_RCPT(
                self, server: Any, session: Any, envelope: Any, address: str, options: Any
            ) -> str:
                if sink.refuse_recipients:
                    return f"550 5.1.1 <{address}>: no such user"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if sink.refuse:
                    return "451 try again later"
                mail = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(mail, EmailMessage)
                sink.mails.append(mail)
                if sink.on_mail is not None:
                    sink.on_mail(mail)
                return "250 OK"

        self.port = port or free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
