"""Composition root of the consent service: the same builders as every service (listed in
`services/runtime/registry.py`); nothing is built at import time."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from fastapi import FastAPI

from services.common.clock import Clock, system_clock
from services.common.composition import Outbox, Service, StoreReader, Workers
from services.common.cursors import ListCursors
from services.common.metrics import Reading, tally_reading
from services.common.service import Api, application_env, create_service_app, outbox_relay, topic_consumer
from services.consent import inbound
from services.consent.api import DOMAIN_ERRORS, router
from services.consent.application import Consents
from services.consent.lane import DecisionLane
from services.consent.outbound import consent_messages
from services.consent.settings import ConsentSettings
from services.contract import topics

DESCRIPTION = "Consents, disclosure decisions (LSSSS arts. 17-27.3 or LRSSS), the disclosure register."
RELAY_TRACKING = "consent-relay"


def build_application(settings: ConsentSettings, clock: Clock = system_clock) -> Consents:
    return Consents(
        env=application_env(settings),
        clock=clock,
        regime_setting=settings.regime,
        legal=settings.legal,
        records_per_person=settings.max_records_per_person,
    )


def build_relay(settings: ConsentSettings, consents: Consents) -> Workers:
    """Decisions on `rls.consent.decisions.v1`; consents, restrictions and register entries on `rls.consent.v1` (and
    the dead letters of events it cannot map on `rls.consent.v1.dlq`)."""
    return outbox_relay(settings, consents, consent_messages, RELAY_TRACKING, topics.CONSENT)


def build_consumers(settings: ConsentSettings, consents: Consents) -> Workers:
    """Organisations and agreement states from `rls.agreements.v1`, for the decision engine's facts."""
    group, handler = settings.consumer_group, inbound.handler(consents)
    return topic_consumer(
        settings, consents, "agreements-events", group, [topics.AGREEMENTS], handler, inbound.DECLARED
    )


def build_metrics(settings: ConsentSettings, consents: Consents) -> list[Reading]:
    """Disclosure decisions by outcome and legal route (counted from the store, `Consents.tally`)."""
    return [
        tally_reading(consents.tally, "rls_consent_decisions", "Decisions by outcome and route", ("outcome", "route"))
    ]


def open_store(env: Mapping[str, str]) -> Outbox:
    return Consents(env=env), consent_messages


STORE = StoreReader(Consents.name, open_store)


REGISTER_CURSORS = b"rls consent register cursors v1"
"""The label the cursors of `GET /v1/register` derive their key with (from the store's cipher key)."""


def build_cursors(settings: ConsentSettings) -> ListCursors:
    """The register's cursors, keyed from the store's cipher key (`CONSENT_CIPHER_KEY`): a secret every replica
    already holds (they read one store), required in production; HKDF keeps the two keys apart."""
    return ListCursors.derived_from(base64.b64decode(settings.store_cipher_key.get_secret_value()), REGISTER_CURSORS)


def build_app(settings: ConsentSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or ConsentSettings()
    api = Api(
        "RLS Referrals — consent service",
        [router],
        DOMAIN_ERRORS,
        DESCRIPTION,
        state={"cursors": build_cursors(settings)},
        shortcuts=[DecisionLane],
    )
    return create_service_app(SERVICE, settings, build_application(settings, clock), api)


SERVICE: Service[ConsentSettings, Consents] = Service(
    "consent",
    ConsentSettings,
    build_app,
    build_application,
    build_relay,
    build_consumers,
    store=STORE,
    metrics=build_metrics,
)
