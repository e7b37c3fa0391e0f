"""The referral service's `/metrics` and spans, in process: requests by route template (never a raw path or a
person's id), the request's trace stored with its events and carried by the relay in the CloudEvent `traceparent`."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from services.common.kafka import Outgoing
from services.common.relay import OutboxRelay
from services.common.tracing import traced
from services.referral.main import outbox
from tests.referral.conftest import ReferralService, body

CANARY = "CANARY-3f9d-PHI"


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


class Sink:
    def __init__(self) -> None:
        self.published: list[Outgoing] = []

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self.published += messages


def test_requests_are_counted_by_route_template_and_status_never_by_path(
    service: ReferralService, auth: dict[str, str]
) -> None:
    worker = auth("csss-a", "intake")
    submitted = service.client.post("/v1/referrals", json=body(subject_id="S-CANARY-1"), headers=worker)
    assert submitted.status_code == 201
    rid = submitted.json()["id"]
    assert service.client.get(f"/v1/referrals/{rid}", headers=worker).status_code == 200
    assert service.client.get(f"/nowhere/{CANARY}?subject_id={CANARY}").status_code == 404
    service.client.get("/healthz")

    scraped = service.client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in samples(scraped.text, "rls_http_request_duration_seconds_count")
    }
    assert counts[("POST", "/v1/referrals", "201")] == 1
    assert counts[("GET", "/v1/referrals/{referral_id}", "200")] == 1
    assert counts[("GET", "<unmatched>", "404")] == 1
    assert not any(route in {"/healthz", "/metrics"} for _, route, _ in counts)
    for secret in (rid, CANARY, "S-CANARY-1"):
        assert secret not in scraped.text
    assert "# TYPE rls_referral_clocks gauge" in scraped.text


def test_a_requests_trace_is_stored_with_its_events_and_carried_by_the_relay(
    service: ReferralService, auth: dict[str, str], spans: InMemorySpanExporter
) -> None:
    information = {"IDENTIFICATION": f"{CANARY} name", "CONTACT": f"{CANARY} phone"}
    headers = {**auth("csss-a", "intake"), "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    submitted = service.client.post("/v1/referrals", json=body(information=information), headers=headers)
    assert submitted.status_code == 201
    (server,) = [s for s in spans.get_finished_spans() if s.name == "POST /v1/referrals"]
    trace_id = server.context.trace_id
    assert trace_id == 0x0AF7651916CD43DD8448EB211C80319C  # the caller's trace, continued
    assert server.attributes is not None and server.attributes["http.route"] == "/v1/referrals"

    referrals = service.app.state.application
    stored = referrals.recorder.select_notifications(start=1, limit=10)
    parents = [traced(referrals.mapper, n)[1] for n in stored]
    assert parents and all(p is not None and f"{trace_id:032x}" in p for p in parents)
    assert all("__traceparent__" not in vars(referrals.mapper.to_domain_event(n)) for n in stored)

    sink = Sink()
    OutboxRelay(referrals, outbox(referrals, "http://referral.test"), sink, name="test-relay").run_once()
    assert sink.published
    assert all(m.event.traceparent and f"{trace_id:032x}" in m.event.traceparent for m in sink.published)
    relayed = [s for s in spans.get_finished_spans() if s.name == "relay"]
    assert relayed and all(s.context.trace_id == trace_id for s in relayed)

    shown = [
        repr((s.name, dict(s.attributes or {}), s.events, s.resource.attributes)) for s in spans.get_finished_spans()
    ]
    assert not [text for text in shown if CANARY in text or "Bearer" in text or "S-0001" in text]
