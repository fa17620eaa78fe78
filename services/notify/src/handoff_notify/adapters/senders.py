"""Sending one delivery: a signed webhook, a Slack message or an email. Each answers an
Attempt (status, error, a short excerpt of the answer); none raises for a receiver's fault."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import httpx

from handoff_notify.adapters.signing import signed_headers
from handoff_notify.domain.addresses import UnsafeAddress


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None  # the HTTP status, 250 for an accepted mail; None: no answer
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None


class Senders:
    def __init__(
        self, client: httpx.AsyncClient, smtp: Smtp, timeout_seconds: float, excerpt_limit: int
    ) -> None:
        self.client, self.smtp = client, smtp
        self.timeout, self.excerpt_limit = timeout_seconds, excerpt_limit

    async def send(
        self, channel: str, url: str, secrets: tuple[str, ...], message_id: str, body: bytes
    ) -> Attempt:
        """One try, given at most the timeout in all (a receiver that trickles is cut off)."""
        try:
            async with asyncio.timeout(self.timeout):
                if channel == "email":
                    return await self._mail(body)
                headers = (
                    signed_headers(secrets, message_id, datetime.now(UTC), body)
                    if channel == "webhook"
                    else {"content-type": "application/json"}
                )
                return await self._post(url, headers, body)
        except TimeoutError:
            return Attempt(None, f"no answer within {self.timeout:g} s")
        except UnsafeAddress as exc:
            return Attempt(None, f"refused: {exc}")
        except httpx.HTTPError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:500])
        except aiosmtplib.SMTPResponseException as exc:
            # The server's words often quote the recipient's address: keep only the code.
            return Attempt(exc.code, f"{type(exc).__name__}: SMTP {exc.code}")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({e.code for e in exc.recipients})
            return Attempt(codes[0] if codes else None, f"recipients refused: SMTP {codes}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt(None, type(exc).__name__)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        response = await self.client.post(url, content=body, headers=headers)
        excerpt = response.text[: self.excerpt_limit] if self.excerpt_limit else None
        return Attempt(
            response.status_code,
            None,
            excerpt,
            response.headers.get("retry-after"),
        )

    async def _mail(self, body: bytes) -> Attempt:
        mail = json.loads(body)
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = mail["to"]
        message["Subject"] = mail["subject"]
        message.set_content(mail["text"])
        message.add_alternative(mail["html"], subtype="html")
        errors, _ = await aiosmtplib.send(
            message,
            hostname=self.smtp.host,
            port=self.smtp.port,
            start_tls=self.smtp.starttls,
            username=self.smtp.username,
            password=self.smtp.password,
            timeout=self.timeout,
        )
        if errors:  # some recipients refused: the server's text may quote their addresses
            codes = sorted({code for code, _ in errors.values()})
            return Attempt(codes[0], f"recipients refused: SMTP {codes}")
        return Attempt(250, None, None)  # the answer may quote the addresses too
