"""/v1/subscriptions (scope admin) and /v1/deliveries: parse, check, call the repositories."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_notify.adapters import deliveries_repo, subscriptions_repo
from handoff_notify.adapters.guard import checked_addresses
from handoff_notify.config import SubscriptionIn
from handoff_notify.domain.addresses import UnsafeAddress, check_url
from handoff_notify.entrypoints.deps import Deps, NotifyDeps

router = APIRouter(prefix="/v1", tags=["notify"])
Admin = Annotated[ApiKeyRecord, Depends(require_scope("admin"))]
Reader = Annotated[ApiKeyRecord, Depends(require_scope("read"))]


class SubscriptionOut(BaseModel):
    id: str
    channel: str
    url: str | None = Field(description="null for Slack: the incoming-webhook URL is a secret")
    events: list[str]
    pools: list[str]
    teams: list[str]
    reps: list[str]
    language: str | None
    description: str
    origin: Literal["config", "api"]
    secrets_count: int = Field(description="signing secrets in use; the secrets are never shown")
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_failures: int
    breaker_open_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> SubscriptionOut:
        m = row._mapping
        return cls(
            id=m["subscription_id"],
            channel=m["channel"],
            url=None if m["channel"] == "slack" else m["url"],
            events=list(m["event_types"]),
            pools=list(m["pools"]),
            teams=list(m["teams"]),
            reps=list(m["reps"]),
            language=m["language"],
            description=m["description"],
            origin=m["origin"],
            secrets_count=len(m["secrets"]),
            disabled_at=m["disabled_at"],
            disabled_reason=m["disabled_reason"],
            consecutive_failures=m["consecutive_failures"],
            breaker_open_until=m["open_until"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        default=None, description="the signing secret generated for you; shown this once only"
    )


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    subscription_id: str
    event_type: str
    lead_id: str | None
    status: Literal["pending", "succeeded", "failed", "cancelled"]
    attempts: int
    next_at: datetime | None
    created_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None = Field(
        description="the receiver's last HTTP status (SMTP 250 for mail)"
    )
    last_error: str | None
    last_response: str | None = Field(description="the start of the receiver's last answer")
    delivered_at: datetime | None
    erased_at: datetime | None = Field(
        default=None,
        description="when the lead was erased: the body is gone (or, for a webhook still "
        "pending, stripped of personal fields) and a notice still pending was cancelled",
    )

    @classmethod
    def of(cls, row: Any) -> DeliveryOut:
        m = dict(row._mapping)
        m["id"] = m.pop("delivery_id")
        return cls(**m)


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_before: str | None = Field(description="pass as `before` for the next (older) page")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def _check_reachable(deps: NotifyDeps, body: SubscriptionIn) -> None:
    """The URL's host resolves only to addresses notify may reach: else 422 naming `url`."""
    if body.channel == "email":
        return
    try:
        host, port = check_url(body.url)
        await checked_addresses(host, port, deps.config.allowed_networks, deps.resolve)
    except UnsafeAddress as exc:
        raise Problem(
            422,
            "The subscription's URL may not be reached.",
            errors=[{"field": "url", "message": f"refused: {exc}"}],
        ) from None


@router.get("/subscriptions", response_model=SubscriptionList, summary="Every subscription")
async def list_subscriptions(deps: Deps, key: Admin) -> SubscriptionList:
    async with deps.engine.connect() as conn:
        rows = await subscriptions_repo.all_rows(conn)
    return SubscriptionList(subscriptions=[SubscriptionOut.of(r) for r in rows])


@router.post(
    "/subscriptions",
    response_model=SubscriptionCreated,
    status_code=201,
    summary="Add a subscription; effective for the next batch of events, without a restart",
)
async def create_subscription(
    body: SubscriptionIn, response: Response, deps: Deps, key: Admin
) -> SubscriptionCreated:
    await _check_reachable(deps, body)
    generated = None
    if body.channel == "webhook" and not body.secrets:
        generated = new_secret()
        body = body.model_copy(update={"secrets": [generated]})
    sub_id = body.id or f"sub-{uuid.uuid4().hex[:12]}"
    async with deps.uow() as uow:
        if not await subscriptions_repo.insert(uow.conn, body.to_domain(sub_id, "api")):
            raise Problem(409, f"A subscription with the id {sub_id!r} exists already.")
        row = await subscriptions_repo.one_row(uow.conn, sub_id)
        await uow.commit()
    response.headers["Location"] = f"/v1/subscriptions/{sub_id}"
    return SubscriptionCreated(**SubscriptionOut.of(row).model_dump(), secret=generated)


async def _existing(conn: Any, subscription_id: str) -> Any:
    row = await subscriptions_repo.one_row(conn, subscription_id)
    if row is None:
        raise Problem(404, f"No subscription has the id {subscription_id!r}.")
    return row


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(subscription_id: str, deps: Deps, key: Admin) -> SubscriptionOut:
    async with deps.engine.connect() as conn:
        return SubscriptionOut.of(await _existing(conn, subscription_id))


@router.put(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    summary="Replace a subscription made through the API (a rotation: send both secrets)",
)
async def replace_subscription(
    subscription_id: str, body: SubscriptionIn, deps: Deps, key: Admin
) -> SubscriptionOut:
    await _check_reachable(deps, body)
    async with deps.uow() as uow:
        row = await _existing(uow.conn, subscription_id)
        if row._mapping["origin"] == "config":
            raise Problem(409, "This subscription comes from notify.yaml; change it there.")
        if body.channel == "webhook" and not body.secrets:
            body = body.model_copy(update={"secrets": list(row._mapping["secrets"])})
        await subscriptions_repo.replace(uow.conn, body.to_domain(subscription_id, "api"))
        row = await subscriptions_repo.one_row(uow.conn, subscription_id)
        await uow.commit()
    return SubscriptionOut.of(row)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: str, deps: Deps, key: Admin) -> Response:
    async with deps.uow() as uow:
        row = await _existing(uow.conn, subscription_id)
        if row._mapping["origin"] == "config":
            raise Problem(409, "This subscription comes from notify.yaml; remove it there.")
        await subscriptions_repo.delete(uow.conn, subscription_id)
        await deliveries_repo.fail_pending_of(uow.conn, subscription_id, deps.clock())
        await uow.commit()
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/enable",
    response_model=SubscriptionOut,
    summary="Enable a disabled endpoint again; its waiting deliveries go out",
)
async def enable_subscription(subscription_id: str, deps: Deps, key: Admin) -> SubscriptionOut:
    async with deps.uow() as uow:
        await _existing(uow.conn, subscription_id)
        await subscriptions_repo.enable(uow.conn, subscription_id, deps.clock())
        row = await subscriptions_repo.one_row(uow.conn, subscription_id)
        await uow.commit()
    deps.bell.ring()
    return SubscriptionOut.of(row)


@router.get("/deliveries", response_model=DeliveryList, summary="The delivery log, newest first")
async def list_deliveries(
    deps: Deps,
    key: Reader,
    status: Annotated[
        Literal["pending", "succeeded", "failed", "cancelled"] | None, Query()
    ] = None,
    subscription_id: Annotated[str | None, Query(max_length=100)] = None,
    before: Annotated[str | None, Query(max_length=100, description="a delivery id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    async with deps.engine.connect() as conn:
        rows = await deliveries_repo.listing(
            conn, status=status, subscription_id=subscription_id, before=before, limit=limit
        )
    out = [DeliveryOut.of(r) for r in rows]
    return DeliveryList(deliveries=out, next_before=out[-1].id if len(out) == limit else None)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
async def get_delivery(delivery_id: str, deps: Deps, key: Reader) -> DeliveryOut:
    async with deps.engine.connect() as conn:
        row = await deliveries_repo.one(conn, delivery_id)
    if row is None:
        raise Problem(404, f"No delivery has the id {delivery_id!r}.")
    return DeliveryOut.of(row)


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    status_code=202,
    summary="Try a failed delivery again now, with a fresh retry schedule",
)
async def retry_delivery(delivery_id: str, deps: Deps, key: Admin) -> DeliveryOut:
    async with deps.uow() as uow:
        row = await deliveries_repo.one(uow.conn, delivery_id)
        if row is None:
            raise Problem(404, f"No delivery has the id {delivery_id!r}.")
        if row._mapping["status"] == "succeeded":
            raise Problem(409, "This delivery succeeded already; there is nothing to retry.")
        if row._mapping["erased_at"] is not None:
            raise Problem(409, "This delivery's lead was erased; it is not sent again.")
        await deliveries_repo.retry_now(uow.conn, delivery_id, deps.clock())
        row = await deliveries_repo.one(uow.conn, delivery_id)
        await uow.commit()
    deps.bell.ring()
    return DeliveryOut.of(row)
