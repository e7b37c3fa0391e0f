"""One trace from the submit request to the webhook delivery, on a real broker: the referral service stores the
request's trace with its events, its relay carries it in the CloudEvent `traceparent`, the notifications consumer and
its delivery worker continue it, the partner's endpoint receives it. The spans (an in-memory exporter) and both
services' `/metrics` never show the PHI canary, a person's id or a token."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.helpers import demo_referral, wait_for
from tests.notifications.conftest import SECRET
from tests.notifications.fakes import Receiver
from tests.referral.test_telemetry import samples

pytestmark = pytest.mark.integration

CANARY = "CANARY-51d0-PHI"
SUBJECT = "S-TRACE-0042"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_one_trace_from_the_submit_request_to_the_webhook_delivery(
    referral_and_notifications: Callable[[str], tuple[TestClient, TestClient]],
    auth: Callable[..., dict[str, str]],
    receiver: Receiver,
    spans: InMemorySpanExporter,
    report_figure: Callable[[str], None],
) -> None:
    referral, notifications = referral_and_notifications("trace")
    to_org = "trace-" + uuid.uuid4().hex[:10]
    subscription = {"org_id": to_org, "channel": "WEBHOOK", "url": receiver.url, "secret": SECRET}
    assert notifications.post("/v1/subscriptions", json=subscription, headers=auth(to_org, "admin")).status_code == 201
    information = {"IDENTIFICATION": f"{CANARY} name", "CONTACT": f"{CANARY} phone"}
    body = demo_referral(to_org, "CRISIS_24_7", SUBJECT, from_org="trace-sender", information=information)
    submitted = referral.post("/v1/referrals", json=body, headers=auth("trace-sender", "intake"))
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]

    [hook] = wait_for(lambda: [r for r in receiver.accepted() if r.event["subject"] == rid], timeout=90)
    [submit] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/referrals"]
    trace_id = f"{submit.context.trace_id:032x}"
    assert hook.headers["traceparent"].split("-")[1] == trace_id
    assert hook.event["traceparent"].split("-")[1] == trace_id
    in_trace = wait_for(lambda: _names_in(spans, submit.context.trace_id, {"relay", "consume", "webhook"}), timeout=30)
    report_figure(f"one trace, submit → webhook: {' → '.join(in_trace)}")

    shown = [
        repr((s.name, dict(s.attributes or {}), s.events, s.resource.attributes)) for s in spans.get_finished_spans()
    ]
    assert not [text for text in shown if CANARY in text or SUBJECT in text or "Bearer" in text]

    def caught_up() -> tuple[str, str] | None:
        produced = referral.get("/metrics").text
        consumed = notifications.get("/metrics").text
        outbox = [v for labels, v in samples(produced, "rls_outbox_lag")]
        lag = [v for labels, v in samples(consumed, "rls_consumer_lag")]
        delivered = [
            v for labels, v in samples(consumed, "rls_delivery_outcomes_total") if labels["outcome"] == "delivered"
        ]
        done = outbox == [0.0] and lag and set(lag) == {0.0} and delivered and delivered[0] >= 1
        return (produced, consumed) if done else None

    for text in wait_for(caught_up, timeout=60):
        assert CANARY not in text and SUBJECT not in text and rid not in text


def _names_in(spans: InMemorySpanExporter, trace_id: int, wanted: set[str]) -> list[str]:
    """The names of the trace's spans in start order, once every `wanted` one has ended (else empty)."""
    mine = sorted(
        (s for s in spans.get_finished_spans() if s.context.trace_id == trace_id), key=lambda s: s.start_time or 0
    )
    names = [s.name for s in mine]
    return names if wanted <= set(names) else []
