"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

Signed with every secret of the subscription (two during a rotation), so a receiver that
knows either the old or the new secret verifies the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook


def signed_headers(
    secrets: Sequence[str], message_id: str, at: datetime, body: bytes
) -> dict[str, str]:
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(message_id, at, text) for s in secrets)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "content-type": "application/json",
    }
    if signatures:
        headers["webhook-signature"] = signatures
    return headers
