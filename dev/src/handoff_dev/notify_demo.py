"""The notify part of `handoff dev --demo`: a local webhook receiver that prints the signed
webhooks it verified, and a local SMTP sink (aiosmtpd) that prints the mails, with their
accept links, so a newcomer sees the notices and can click one.

`prepare_notify_demo` runs before the services start: it picks the ports, writes a notify.yaml for the
demo under the data directory, and returns the environment the services need (the same
one-click key for notify and routing). `run` serves both receivers until cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

from handoff_dev.ports import free_port
from handoff_dev.receivers import Received, SmtpSink, WebhookReceiver

EVENTS = [
    "handoff.lead.assigned",
    "handoff.lead.accepted",
    "handoff.lead.rejected",
    "handoff.lead.reassigned",
    "handoff.sla.warning",
    "handoff.sla.breached",
    "handoff.sla.escalated",
]
LINK = re.compile(r"https?://\S+/one-click\?token=\S+")  # with its &lang=


@dataclass
class NotifyDemo:
    webhook_port: int
    smtp_port: int
    secret: str
    env: dict[str, str] = field(default_factory=dict)

    async def run(self) -> None:
        receiver = await WebhookReceiver([self.secret], on_received=_print_webhook).start(
            self.webhook_port
        )
        sink = SmtpSink(on_mail=_print_mail).start(self.smtp_port)
        print(
            f"notify demo: webhook receiver on {receiver.url}, SMTP sink on 127.0.0.1:{sink.port}",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            sink.stop()
            await receiver.stop()


def _people(config_dir: Path) -> dict[str, Any]:
    """The roster's reps from routing.yaml as notify's people, so the demo mails reach them."""
    try:
        roster = yaml.safe_load((config_dir / "routing.yaml").read_text(encoding="utf-8")) or {}
    except OSError:
        return {}
    people: dict[str, Any] = {}
    for rep in roster.get("reps", []):
        zone = rep.get("timezone") or "UTC"
        people[rep["id"]] = {
            "name": rep.get("name", rep["id"]),
            "email": rep.get("email"),
            "language": "ja" if zone == "Asia/Tokyo" else "en",
            "timezone": zone,
        }
    return people


def prepare_notify_demo(
    data_dir: Path, config_dir: Path, environ: Mapping[str, str] = os.environ
) -> NotifyDemo:
    data_dir.mkdir(parents=True, exist_ok=True)
    demo = NotifyDemo(
        free_port(), free_port(), "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    config = {
        "subscriptions": [
            {
                "id": "demo-receiver",
                "url": f"http://127.0.0.1:{demo.webhook_port}/webhooks",
                "secrets": [demo.secret],
                "events": EVENTS,
            },
            {"id": "demo-mail", "channel": "email", "events": EVENTS},
        ],
        "safety": {"allow_networks": ["127.0.0.0/8"]},
        "people": _people(config_dir),
    }
    path = data_dir / "notify-demo.yaml"
    path.write_text(
        "# Written by `handoff dev --demo` at every start; edit config/notify.yaml instead.\n"
        + yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    routing_port = environ.get("HANDOFF_ROUTING_HTTP_PORT", "8102")
    demo.env = {
        "HANDOFF_NOTIFY_CONFIG_FILE": str(path),
        "HANDOFF_NOTIFY_SMTP_PORT": str(demo.smtp_port),
        "HANDOFF_NOTIFY_LINK_BASE_URL": f"http://127.0.0.1:{routing_port}",
    }
    if "HANDOFF_ONE_CLICK_SECRETS" not in environ:
        demo.env["HANDOFF_ONE_CLICK_SECRETS"] = json.dumps([secrets.token_urlsafe(32)])
    return demo


def _print_webhook(got: Received) -> None:
    try:
        body = json.loads(got.body)
        what = f"{body.get('type')} lead {body.get('subject')}"
    except ValueError:
        what = "unreadable body"
    mark = "verified" if got.verified else "NOT VERIFIED"
    print(f"webhook {mark}: {what} (webhook-id {got.headers.get('webhook-id')})", flush=True)


def _print_mail(mail: EmailMessage) -> None:
    part = mail.get_body(preferencelist=("plain",))
    text = str(part.get_content()) if part is not None else ""
    links = LINK.findall(text)
    print(f"mail to {masked(str(mail['To']))}: {mail['Subject']}", flush=True)
    for link in links[:2]:
        print(f"    {link}", flush=True)


def masked(address: str) -> str:
    """An address as the console shows it: enough to tell reps apart, never the address itself
    (the console is a log, and logs carry no email addresses)."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
