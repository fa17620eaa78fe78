"""Webhook verification as plain functions: published test vectors, replay, tampering, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from handoff_ingress.domain.providers import hubspot, marketo, segment, standard
from handoff_ingress.domain.ratelimit import TokenBucket
from handoff_ingress.domain.secrets import Secret, SecretRing
from handoff_ingress.domain.verification import Unverified

# The Standard Webhooks reference test vectors (standard-webhooks/libraries/python tests).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# HubSpot's documented example (the official hubspot-api-python Signature tests, and the v1/v2
# examples of developers.hubspot.com "Validating requests").
HS_SECRET = b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HS_URL = "https://www.example.com/webhook_uri"
HS_BODY = b"{'example_field':'example_value'}"
HS_TIMESTAMP_MS = 15000000
HS_V3 = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
HS_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
HS_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"

KEY = standard.decode_secret(SW_SECRET)


def sw_headers(
    msg_id: str = SW_ID, ts: int = SW_TIMESTAMP, sig: str = SW_SIGNATURE
) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


class TestStandardWebhooks:
    def test_the_reference_vector_signs_and_verifies(self) -> None:
        assert standard.sign(KEY, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE
        assert standard.verify([KEY], sw_headers(), SW_BODY, now=SW_TIMESTAMP) == SW_ID

    def test_the_reference_library_agrees_with_ours(self) -> None:
        now = datetime.now(UTC)
        theirs = Webhook(SW_SECRET).sign(SW_ID, now, SW_BODY.decode())
        ts = int(now.timestamp())
        assert theirs == standard.sign(KEY, SW_ID, ts, SW_BODY)
        assert standard.verify([KEY], sw_headers(ts=ts, sig=theirs), SW_BODY, now=ts) == SW_ID

    def test_the_reference_invalid_signature_is_refused(self) -> None:
        bad = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
        with pytest.raises(Unverified):
            standard.verify([KEY], sw_headers(sig=bad), SW_BODY, now=SW_TIMESTAMP)

    def test_one_valid_signature_among_several_passes(self) -> None:
        other = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
        sigs = f"{other} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SW_SIGNATURE} {other}"
        assert standard.verify([KEY], sw_headers(sig=sigs), SW_BODY, now=SW_TIMESTAMP) == SW_ID

    def test_the_secret_works_with_and_without_its_prefix(self) -> None:
        assert standard.decode_secret(SW_SECRET.removeprefix("whsec_")) == KEY

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_a_missing_header_is_refused(self, missing: str) -> None:
        headers = sw_headers()
        del headers[missing]
        with pytest.raises(Unverified):
            standard.verify([KEY], headers, SW_BODY, now=SW_TIMESTAMP)

    @pytest.mark.parametrize("stamp", ["hello", "", "-1", "1614265330.5", "١٦١٤٢٦٥٣٣٠"])
    def test_a_timestamp_that_is_not_a_number_is_refused(self, stamp: str) -> None:
        headers = sw_headers() | {"webhook-timestamp": stamp}
        with pytest.raises(Unverified):
            standard.verify([KEY], headers, SW_BODY, now=SW_TIMESTAMP)

    @pytest.mark.parametrize("skew", [-301, 301, -86400, 86400])
    def test_an_old_or_future_timestamp_is_refused_even_when_signed(self, skew: int) -> None:
        ts = SW_TIMESTAMP + skew
        sig = standard.sign(KEY, SW_ID, ts, SW_BODY)
        with pytest.raises(Unverified):
            standard.verify([KEY], sw_headers(ts=ts, sig=sig), SW_BODY, now=SW_TIMESTAMP)

    @pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
    def test_five_minutes_either_way_is_accepted(self, skew: int) -> None:
        ts = SW_TIMESTAMP + skew
        sig = standard.sign(KEY, SW_ID, ts, SW_BODY)
        assert standard.verify([KEY], sw_headers(ts=ts, sig=sig), SW_BODY, now=SW_TIMESTAMP)

    def test_a_secret_that_is_not_base64_is_a_config_error(self) -> None:
        with pytest.raises(ValueError, match="whsec_"):
            standard.decode_secret("whsec_not base64!")


class TestHubSpot:
    def test_the_documented_v3_example_signs_to_the_documented_value(self) -> None:
        assert hubspot.sign(HS_SECRET, "POST", HS_URL, HS_BODY, HS_TIMESTAMP_MS) == HS_V3

    def test_the_documented_v3_example_verifies_at_its_time(self) -> None:
        headers = {
            "x-hubspot-signature-v3": HS_V3,
            "x-hubspot-request-timestamp": str(HS_TIMESTAMP_MS),
        }
        hubspot.verify([HS_SECRET], "POST", HS_URL, headers, HS_BODY, now=HS_TIMESTAMP_MS / 1000)

    def test_v1_and_v2_signatures_are_refused_even_when_valid(self) -> None:
        assert hashlib.sha256(HS_SECRET + HS_V1_BODY).hexdigest() == HS_V1  # the docs' v1 example
        headers = {"x-hubspot-signature": HS_V1, "x-hubspot-signature-version": "v1"}
        with pytest.raises(Unverified):
            hubspot.verify([HS_SECRET], "POST", HS_URL, headers, HS_V1_BODY, now=1564113600)

    def test_the_uri_is_decoded_as_hubspot_specifies(self) -> None:
        encoded = (
            "https://x.example/v1/webhooks/hubspot?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20"
        )
        assert (
            hubspot.signed_uri(encoded)
            == "https://x.example/v1/webhooks/hubspot?a=:/?@!$'()*,;&b=%20"
        )
        decoded = "https://x.example/v1/webhooks/hubspot?a=:/?@!$'()*,;&b=%20"
        source = b"POST" + decoded.encode() + HS_BODY + str(HS_TIMESTAMP_MS).encode()
        sig = base64.b64encode(hmac.new(HS_SECRET, source, hashlib.sha256).digest()).decode()
        headers = {
            "x-hubspot-signature-v3": sig,
            "x-hubspot-request-timestamp": str(HS_TIMESTAMP_MS),
        }
        hubspot.verify([HS_SECRET], "POST", encoded, headers, HS_BODY, now=HS_TIMESTAMP_MS / 1000)

    @pytest.mark.parametrize("skew_ms", [-300_001, 300_001])
    def test_an_old_or_future_timestamp_is_refused(self, skew_ms: int) -> None:
        ts = HS_TIMESTAMP_MS + skew_ms
        headers = {
            "x-hubspot-signature-v3": hubspot.sign(HS_SECRET, "POST", HS_URL, HS_BODY, ts),
            "x-hubspot-request-timestamp": str(ts),
        }
        with pytest.raises(Unverified):
            hubspot.verify(
                [HS_SECRET], "POST", HS_URL, headers, HS_BODY, now=HS_TIMESTAMP_MS / 1000
            )


class TestSegmentAndMarketo:
    def test_segment_checks_the_hex_sha1_of_the_body(self) -> None:
        secret = b"segment-shared-secret"
        body = b'{"type":"track"}'
        segment.verify([secret], {"x-signature": segment.sign(secret, body)}, body)
        for bad in ("", "zz", segment.sign(b"another-secret-value", body)):
            with pytest.raises(Unverified):
                segment.verify([secret], {"x-signature": bad}, body)

    def test_marketo_compares_the_token_of_its_header(self) -> None:
        token = b"a-long-random-marketo-token"
        marketo.verify([token], {"x-handoff-token": token.decode()}, "X-Handoff-Token")
        for bad in (
            {},
            {"x-handoff-token": ""},
            {"x-handoff-token": "a-long-random-marketo-tokeN"},
        ):
            with pytest.raises(Unverified):
                marketo.verify([token], bad, "X-Handoff-Token")


# Every mutation of a genuine request is refused: body, each header, or the secret.
BODY = st.binary(min_size=0, max_size=200)


def _mutate(data: bytes, where: int, byte: int) -> bytes:
    if not data:
        return bytes([byte])
    i = where % len(data)
    flipped = byte if data[i] != byte else (byte + 1) % 256
    return data[:i] + bytes([flipped]) + data[i + 1 :]


@settings(max_examples=150, deadline=None)
@given(
    body=BODY,
    where=st.integers(0, 10_000),
    byte=st.integers(0, 255),
    part=st.sampled_from(["body", "id", "timestamp", "signature", "secret"]),
)
def test_every_tampering_of_a_standard_webhook_is_refused(
    body: bytes, where: int, byte: int, part: str
) -> None:
    ts = SW_TIMESTAMP
    msg_id, key = "msg_1", KEY
    sig = standard.sign(key, msg_id, ts, body)
    headers = sw_headers(msg_id=msg_id, ts=ts, sig=sig)
    assert standard.verify([key], headers, body, now=ts) == msg_id
    if part == "body":
        body = _mutate(body, where, byte)
    elif part == "id":
        headers["webhook-id"] = _mutate(msg_id.encode(), where, byte).decode("latin-1")
    elif part == "timestamp":
        headers["webhook-timestamp"] = str(ts + 1 + where % 200)
    elif part == "signature":
        raw = base64.b64decode(sig[3:])
        headers["webhook-signature"] = "v1," + base64.b64encode(_mutate(raw, where, byte)).decode()
    else:
        key = _mutate(key, where, byte)
    with pytest.raises(Unverified):
        standard.verify([key], headers, body, now=ts)


@settings(max_examples=150, deadline=None)
@given(
    body=BODY,
    where=st.integers(0, 10_000),
    byte=st.integers(0, 255),
    part=st.sampled_from(["body", "uri", "method", "timestamp", "signature", "secret"]),
)
def test_every_tampering_of_a_hubspot_request_is_refused(
    body: bytes, where: int, byte: int, part: str
) -> None:
    ts, uri, method, secret = HS_TIMESTAMP_MS, HS_URL, "POST", HS_SECRET
    sig = hubspot.sign(secret, method, uri, body, ts)
    headers = {"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": str(ts)}
    hubspot.verify([secret], method, uri, headers, body, now=ts / 1000)
    if part == "body":
        body = _mutate(body, where, byte)
    elif part == "uri":
        uri = uri + "?x=" + str(where)
    elif part == "method":
        method = "PUT"
    elif part == "timestamp":
        headers["x-hubspot-request-timestamp"] = str(ts + 1 + where % 1000)
    elif part == "signature":
        raw = base64.b64decode(sig)
        headers["x-hubspot-signature-v3"] = base64.b64encode(_mutate(raw, where, byte)).decode()
    else:
        secret = _mutate(secret, where, byte)
    with pytest.raises(Unverified):
        hubspot.verify([secret], method, uri, headers, body, now=ts / 1000)


@settings(max_examples=100, deadline=None)
@given(
    body=BODY,
    where=st.integers(0, 10_000),
    byte=st.integers(0, 255),
    part=st.sampled_from(["body", "signature", "secret"]),
)
def test_every_tampering_of_a_segment_request_is_refused(
    body: bytes, where: int, byte: int, part: str
) -> None:
    secret = b"segment-shared-secret"
    sig = segment.sign(secret, body)
    segment.verify([secret], {"x-signature": sig}, body)
    if part == "body":
        body = _mutate(body, where, byte)
    elif part == "signature":
        sig = _mutate(bytes.fromhex(sig), where, byte).hex()
    else:
        secret = _mutate(secret, where, byte)
    with pytest.raises(Unverified):
        segment.verify([secret], {"x-signature": sig}, body)


class TestRotation:
    OLD, NEW = b"old-secret-0123456789", b"new-secret-0123456789"
    NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def ring(self, old_expires: datetime) -> SecretRing:
        return SecretRing((Secret(self.NEW), Secret(self.OLD, expires_at=old_expires)))

    @pytest.mark.parametrize("signer", [OLD, NEW])
    def test_both_secrets_verify_while_the_old_one_has_not_expired(self, signer: bytes) -> None:
        keys = self.ring(self.NOW + timedelta(hours=1)).active(self.NOW)
        body = b"{}"
        segment.verify(keys, {"x-signature": segment.sign(signer, body)}, body)

    def test_the_old_secret_stops_verifying_when_it_expires(self) -> None:
        keys = self.ring(self.NOW).active(self.NOW)
        body = b"{}"
        segment.verify(keys, {"x-signature": segment.sign(self.NEW, body)}, body)
        with pytest.raises(Unverified):
            segment.verify(keys, {"x-signature": segment.sign(self.OLD, body)}, body)

    def test_a_secret_never_shows_in_its_repr(self) -> None:
        assert "old-secret" not in repr(self.ring(self.NOW))


def test_the_rate_limit_allows_a_burst_then_names_the_wait() -> None:
    now = [0.0]
    bucket = TokenBucket(per_second=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    wait = bucket.take()
    assert wait == pytest.approx(0.5)
    assert TokenBucket.retry_after(wait) == 1
    now[0] += 0.5
    assert bucket.take() == 0
