"""Rotating a webhook's signing secret: during the grace period every webhook carries the new and the previous
secret's signatures (one request, one webhook-id per event), after it the new one's only; who may rotate, what is
refused, and the new secret kept as the creation's (encrypted where the store is)."""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.notifications.application import SecretRotation
from services.notifications.domain import (
    MAX_PREVIOUS_SECRETS,
    DeliveryChannel,
    PreviousSecret,
    Subscription,
    SubscriptionIdempotencyConflictError,
    SubscriptionInvalidError,
    SubscriptionWithoutSecretError,
    after_rotation,
)
from services.notifications.loops import DeliveryWorker
from tests.notifications.conftest import (
    PRODUCTION,
    SECRET,
    START,
    Feed,
    Story,
    application,
    open_app,
    org,
    subscribe_topic,
    subscribe_webhook,
    verify,
)
from tests.notifications.fakes import Received, Receiver

NEW_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
THIRD_SECRET = "whsec_" + base64.b64encode(b"a third secret of 32 bytes long!").decode()
Auth = Callable[..., dict[str, str]]


Verifier = Callable[[str, Received], bool]


def independent(secret: str, request: Received) -> bool:
    return verify(secret, request.headers, request.body)


def reference(secret: str, request: Received) -> bool:
    """The Standard Webhooks reference verifier (`standardwebhooks`, a dev dependency); it also checks
    `webhook-timestamp` against the real time (five minutes either way)."""
    webhooks = pytest.importorskip("standardwebhooks.webhooks", reason="needs the dev dependency standardwebhooks")
    try:
        webhooks.Webhook(secret).verify(request.body, request.headers)
    except webhooks.WebhookVerificationError:
        return False
    return True


@pytest.fixture(params=[independent, reference], ids=["independent-verifier", "standardwebhooks"])
def accepts(request: pytest.FixtureRequest) -> Verifier:
    """`accepts(secret, request)`: whether a receiver holding this secret accepts the webhook request."""
    verifier: Verifier = request.param
    return verifier


# --- the rule: which secrets sign, and until when ------------------------------------------------------------


def test_the_replaced_secret_signs_until_its_grace_period_ends() -> None:
    previous = after_rotation(SECRET, [], NEW_SECRET, START, START + timedelta(hours=24))
    assert previous == [PreviousSecret(SECRET, START + timedelta(hours=24))]


def test_a_rotation_during_a_grace_period_keeps_the_earlier_secret_without_extending_it() -> None:
    first = after_rotation(SECRET, [], NEW_SECRET, START, START + timedelta(hours=24))
    second = after_rotation(NEW_SECRET, first, THIRD_SECRET, START + timedelta(hours=1), START + timedelta(days=2))
    assert second == [
        PreviousSecret(NEW_SECRET, START + timedelta(days=2)),
        PreviousSecret(SECRET, START + timedelta(hours=24)),
    ]


def test_a_rotation_without_grace_period_ends_every_earlier_secret_at_once() -> None:
    first = after_rotation(SECRET, [], NEW_SECRET, START, START + timedelta(hours=24))
    assert after_rotation(NEW_SECRET, first, THIRD_SECRET, START + timedelta(hours=1), START + timedelta(hours=1)) == []


def test_rotating_back_to_a_replaced_secret_does_not_sign_twice_with_it() -> None:
    first = after_rotation(SECRET, [], NEW_SECRET, START, START + timedelta(hours=24))
    back = after_rotation(NEW_SECRET, first, SECRET, START + timedelta(hours=1), START + timedelta(hours=24))
    assert back == [PreviousSecret(NEW_SECRET, START + timedelta(hours=24))]


def test_few_secrets_sign_at_once_however_many_rotations() -> None:
    previous: list[PreviousSecret] = []
    current = SECRET
    for n in range(10):
        new = "whsec_" + base64.b64encode(bytes([n]) * 32).decode()
        previous = after_rotation(current, previous, new, START, START + timedelta(hours=24))
        current = new
    assert len(previous) == MAX_PREVIOUS_SECRETS


def webhook_subscription(channel: DeliveryChannel = DeliveryChannel.WEBHOOK) -> Subscription:
    webhook = channel is DeliveryChannel.WEBHOOK
    return Subscription(
        id=uuid.uuid4(),
        org_id="org-a",
        channel=channel.value,
        url="https://partner.example/hooks" if webhook else None,
        secret=SECRET if webhook else None,
        filters={},
        created_at=START,
        created_by="test",
        request_digest="d",
    )


def test_a_subscription_signs_with_both_secrets_during_the_grace_period_only() -> None:
    subscription = webhook_subscription()
    assert subscription.signing_secrets(START) == [SECRET]
    subscription.rotate_secret(NEW_SECRET, False, START, "test")
    assert subscription.signing_secrets(START + timedelta(hours=23, minutes=59)) == [NEW_SECRET, SECRET]
    assert subscription.signing_secrets(START + timedelta(hours=24)) == [NEW_SECRET]


@pytest.mark.parametrize(
    ("secret", "valid_for", "field"),
    [
        ("not-a-whsec", timedelta(hours=1), "secret"),
        ("whsec_" + base64.b64encode(b"too short").decode(), timedelta(hours=1), "secret"),
        (SECRET, timedelta(hours=1), "secret"),  # the current one
        (NEW_SECRET, timedelta(days=7, seconds=1), "previous_valid_for_s"),
        (NEW_SECRET, timedelta(seconds=-1), "previous_valid_for_s"),
    ],
)
def test_bad_rotations_are_refused_naming_the_field(secret: str, valid_for: timedelta, field: str) -> None:
    subscription = webhook_subscription()
    with pytest.raises(SubscriptionInvalidError) as refused:
        subscription.rotate_secret(secret, False, START, "test", valid_for)
    assert refused.value.field == field
    assert subscription.version == 1


def test_a_topic_subscription_has_no_secret_to_rotate() -> None:
    with pytest.raises(SubscriptionWithoutSecretError):
        webhook_subscription(DeliveryChannel.KAFKA_TOPIC).rotate_secret(NEW_SECRET, False, START, "test")


# --- deliveries: one request per event, both signatures during the grace period ------------------------------


def test_a_receiver_verifies_with_the_old_or_the_new_secret_during_the_grace_period_then_the_new_only(
    store_url: str, receiver: Receiver, make_worker: Callable[..., DeliveryWorker], accepts: Verifier
) -> None:
    clock = ManualClock(datetime.now(UTC))  # real time: the reference verifier checks webhook-timestamp against it
    sender, me = org(), org()
    with open_app(store_url, clock=clock) as app:
        hook = subscribe_webhook(app, me, receiver.url)
        story = Story(sender, me)
        feed, worker = Feed(app), make_worker(app)

        feed(story.submitted())
        worker.run_once()
        receiver.answer = lambda _: 503
        feed(story.changed("received", "RECEIVED"))  # scheduled, and failed, before the rotation
        worker.run_once()

        rotated = app.rotate_secret(me, hook, SecretRotation(NEW_SECRET, timedelta(seconds=60)), "test")
        assert rotated.generated_secret is None, "a secret the organisation chose is not sent back"
        assert rotated.subscription.previous_secret_valid_until == clock() + timedelta(seconds=60)
        receiver.answer = lambda _: 200
        clock.advance(timedelta(seconds=1))  # past the failed delivery's retry time
        worker.run_once()
        feed(story.changed("accepted", "ACCEPTED"))
        worker.run_once()

        clock.advance(timedelta(seconds=60))  # the grace period is over
        feed(story.changed("first-contact-made", "FIRST_CONTACT_MADE"))
        worker.run_once()
        deliveries = app.list_deliveries(me, hook)

    before, failed, retried, during, after = receiver.requests
    assert accepts(SECRET, before) and not accepts(NEW_SECRET, before)
    assert " " not in before.headers["webhook-signature"]
    assert failed.webhook_id == retried.webhook_id, "a retry keeps its webhook-id"
    for request in (retried, during):
        assert accepts(SECRET, request) and accepts(NEW_SECRET, request)
        assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert accepts(NEW_SECRET, after) and not accepts(SECRET, after)
    assert " " not in after.headers["webhook-signature"]

    accepted = receiver.accepted()
    assert Counter(r.event["id"] for r in accepted) == Counter({e: 1 for e in {r.event["id"] for r in accepted}})
    assert len(accepted) == 4, "each event processed once: one webhook-id per event throughout the rotation"
    assert sorted(r.webhook_id for r in accepted) == sorted(str(d.id) for d in deliveries)


# --- the API ---------------------------------------------------------------------------------------------------


def webhook(org_id: str) -> dict[str, Any]:
    return {"org_id": org_id, "channel": "WEBHOOK", "url": "https://partner.example/hooks", "secret": SECRET}


def test_an_organisation_rotates_its_webhook_secret(client: TestClient, auth: Auth) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "coordinator")).json()
    url = f"/v1/subscriptions/{created['id']}/rotate-secret"
    response = client.post(url, headers={**auth(me, "admin"), "If-Match": '"1"'})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != SECRET, "generated, told once"
    assert (rotated["version"], response.headers["ETag"], response.headers["Cache-Control"]) == (2, "2", "no-store")
    valid_until = datetime.fromisoformat(rotated["previous_secret_valid_until"])
    assert timedelta(hours=23) < valid_until - datetime.now(UTC) <= timedelta(hours=24)
    shown = client.get(f"/v1/subscriptions/{created['id']}", headers=auth(me, "admin")).json()
    assert "secret" not in shown
    assert shown["previous_secret_valid_until"] == rotated["previous_secret_valid_until"]
    entry = application(client).get_subscription(me, uuid.UUID(created["id"]))
    assert entry.signing_secrets(datetime.now(UTC)) == [rotated["secret"], SECRET]

    chosen = client.post(url, json={"secret": NEW_SECRET, "previous_valid_for_s": 0}, headers=auth(me, "admin"))
    assert chosen.status_code == 200 and "secret" not in chosen.json()
    entry = application(client).get_subscription(me, entry.id)
    assert entry.signing_secrets(datetime.now(UTC)) == [NEW_SECRET], "no grace: the earlier secrets stop at once"
    stale = client.post(url, headers={**auth(me, "admin"), "If-Match": "2"})
    assert stale.status_code == 409 and stale.json()["type"] == "urn:ca.qc.rls:problem:version-conflict"


def test_another_organisation_cannot_rotate_nor_tell_the_subscription_exists(client: TestClient, auth: Auth) -> None:
    me, them = org(), org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    url = f"/v1/subscriptions/{created['id']}/rotate-secret"
    theirs = client.post(url, json={"secret": NEW_SECRET}, headers=auth(them, "admin"))
    unknown = client.post(f"/v1/subscriptions/{uuid.uuid4()}/rotate-secret", headers=auth(them, "admin"))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["type"] == unknown.json()["type"] == "urn:ca.qc.rls:problem:subscription-not-found"
    assert client.post(url, headers=auth(me, "intake")).status_code == 403
    assert client.post(url, headers=auth(me, "auditor")).status_code == 403
    assert client.get(f"/v1/subscriptions/{created['id']}", headers=auth(me, "admin")).json()["version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret": "not-a-whsec"}, "secret"),
        ({"secret": "whsec_" + "%" * 44}, "secret"),
        ({"secret": SECRET}, "secret"),
        ({"secret": "whsec_" + "A" * 300}, "secret"),
        ({"previous_valid_for_s": 7 * 86400 + 1}, "previous_valid_for_s"),
        ({"previous_valid_for_s": -1}, "previous_valid_for_s"),
        ({"colour": "blue"}, "<key>"),
    ],
)
def test_bad_rotations_are_refused_naming_the_field_with_nothing_changed(
    client: TestClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    response = client.post(f"/v1/subscriptions/{created['id']}/rotate-secret", json=body, headers=auth(me, "admin"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:ca.qc.rls:problem:validation"
    assert field in [e["field"] for e in problem["errors"]]
    assert SECRET not in response.text and "%%%%" not in response.text, "the secret typed is never echoed"
    assert client.get(f"/v1/subscriptions/{created['id']}", headers=auth(me, "admin")).json()["version"] == 1


def test_a_topic_subscription_has_no_secret_to_rotate_409(client: TestClient, auth: Auth) -> None:
    me = org()
    topic = subscribe_topic(application(client), me)
    response = client.post(f"/v1/subscriptions/{topic}/rotate-secret", headers=auth(me, "admin"))
    assert response.status_code == 409
    assert response.json()["type"] == "urn:ca.qc.rls:problem:subscription-without-secret"


def test_a_retried_rotation_with_its_idempotency_key_rotates_once(client: TestClient, auth: Auth) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    url = f"/v1/subscriptions/{created['id']}/rotate-secret"
    headers = {**auth(me, "admin"), "Idempotency-Key": "rotation-2026-11", "If-Match": "1"}
    first = client.post(url, headers=headers)
    again = client.post(url, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json(), "the generated secret again, and no third secret: the original still signs"
    entry = application(client).get_subscription(me, uuid.UUID(created["id"]))
    assert entry.signing_secrets(datetime.now(UTC)) == [first.json()["secret"], SECRET]
    other = client.post(url, json={"previous_valid_for_s": 60}, headers=headers)
    assert other.status_code == 409 and other.json()["type"] == "urn:ca.qc.rls:problem:idempotency-key-reused"


@pytest.mark.parametrize(
    "rotation", [{"secret": NEW_SECRET, "previous_valid_for_s": 0}, {}], ids=["supplied-no-grace", "generated"]
)
def test_a_replayed_creation_tells_the_generated_secret_only_while_no_rotation_replaced_it(
    client: TestClient, auth: Auth, rotation: dict[str, Any]
) -> None:
    """The secret generated at creation is told again to a retry of the creation; once a rotation replaced it, a
    replay answers the subscription without a secret (review: it answered the rotated-in one, even one the
    organisation chose or swapped in at once because the generated one leaked)."""
    me = org()
    body = {"org_id": me, "channel": "WEBHOOK", "url": "https://partner.example/hooks"}
    headers = {**auth(me, "admin"), "Idempotency-Key": "create-1"}
    created = client.post("/v1/subscriptions", json=body, headers=headers)
    retried = client.post("/v1/subscriptions", json=body, headers=headers)
    assert created.status_code == retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["secret"] == created.json()["secret"], "a retry may tell the same generated secret again"
    url = f"/v1/subscriptions/{created.json()['id']}/rotate-secret"
    rotated = client.post(url, json=rotation, headers=auth(me, "admin"))
    assert rotated.status_code == 200
    current = rotated.json().get("secret", NEW_SECRET)
    replay = client.post("/v1/subscriptions", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == created.json()["id"] and replay.json()["version"] == 2
    assert "secret" not in replay.json() and current not in replay.text and created.json()["secret"] not in replay.text


def test_a_replayed_rotation_tells_its_generated_secret_only_while_no_later_rotation_replaced_it(
    client: TestClient, auth: Auth
) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    url = f"/v1/subscriptions/{created['id']}/rotate-secret"
    first = {**auth(me, "admin"), "Idempotency-Key": "rotation-1"}
    second = {**auth(me, "admin"), "Idempotency-Key": "rotation-2"}
    told = client.post(url, headers=first).json()["secret"]
    assert client.post(url, headers=first).json()["secret"] == told, "a retry tells it again"
    newer = client.post(url, headers=second).json()["secret"]
    assert client.post(url, headers=second).json()["secret"] == newer
    replay = client.post(url, headers=first)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert "secret" not in replay.json() and newer not in replay.text and told not in replay.text
    chosen = {**auth(me, "admin"), "Idempotency-Key": "rotation-3"}
    assert client.post(url, json={"secret": THIRD_SECRET, "previous_valid_for_s": 0}, headers=chosen).status_code == 200
    for headers in (first, second, chosen):
        again = client.post(
            url,
            json={"secret": THIRD_SECRET, "previous_valid_for_s": 0} if headers is chosen else None,
            headers=headers,
        )
        assert again.status_code == 200 and "secret" not in again.json() and THIRD_SECRET not in again.text
    entry = application(client).get_subscription(me, uuid.UUID(created["id"]))
    assert entry.signing_secrets(datetime.now(UTC)) == [THIRD_SECRET], "the replays rotated nothing"


def test_a_key_reused_for_another_rotation_is_a_conflict(store_url: str) -> None:
    me = org()
    with open_app(store_url) as app:
        hook = subscribe_webhook(app, me, "https://partner.example/hooks")
        app.rotate_secret(me, hook, SecretRotation(NEW_SECRET), "test", idempotency_key="k")
        with pytest.raises(SubscriptionIdempotencyConflictError):
            app.rotate_secret(me, hook, SecretRotation(THIRD_SECRET), "test", idempotency_key="k")


def test_the_new_secret_is_kept_as_the_creations_encrypted_at_rest(
    make_client: Callable[..., TestClient], auth: Auth, tmp_path: Path
) -> None:
    client = make_client(**PRODUCTION)
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    url = f"/v1/subscriptions/{created['id']}/rotate-secret"
    assert client.post(url, json={"secret": NEW_SECRET}, headers=auth(me, "admin")).status_code == 200
    generated = client.post(url, headers=auth(me, "admin")).json()["secret"]
    application(client).board.catch_up()
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    for secret in (SECRET, NEW_SECRET, generated):
        assert secret.removeprefix("whsec_").encode() not in stored, "neither the store nor the board keeps it clear"
