"""Composition root of the referral service: the same builders as every service (listed in
`services/runtime/registry.py`); nothing is built at import time."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from fastapi import FastAPI

from services.common.auth import load_dev_key
from services.common.composition import Outbox, Service, StoreReader, Workers
from services.common.cursors import ListCursors
from services.common.metrics import Reading, Sample
from services.common.service import Api, application_env, create_service_app, outbox_relay
from services.contract import topics
from services.referral.api import DOMAIN_ERRORS, router
from services.referral.application import Referrals
from services.referral.domain import Referral
from services.referral.gateways import HttpGateways, ServiceIdentity
from services.referral.loops import delay_clocks
from services.referral.outbound import ReferralOutbound
from services.referral.settings import ReferralSettings
from services.referral.vault import Vault

TITLE = "RLS Referrals — referral service"
RELAY_TRACKING = "outbox-relay"
"""The name the relay's position is stored under (kept: existing stores resume where they were)."""
AUDIT_PUBLIC_URL = "http://referral.invalid"
"""The information links of events an auditor maps from the store (the service's public URL is its own setting)."""


def build_application(settings: ReferralSettings) -> Referrals:
    vault = Vault(settings.vault_store_url, settings.vault_master_key(), settings.vault_setting)
    return Referrals(
        env=application_env(settings),
        policy=settings.policy(),
        vault=vault,
        reason_codes=settings.reason_codes,
        durations=settings.durations(),
    )


def outbox(referrals: Referrals, public_url: str) -> ReferralOutbound:
    """The mapping the relay publishes through (it reads a referral as it stood at each event's version)."""

    def load(referral_id: uuid.UUID, version: int) -> Referral:
        referral: Referral = referrals.repository.get(referral_id, version=version)
        return referral

    return ReferralOutbound(public_url, load)


def build_relay(settings: ReferralSettings, referrals: Referrals) -> Workers:
    return outbox_relay(settings, referrals, outbox(referrals, settings.public_url), RELAY_TRACKING, topics.REFERRAL)


def build_loops(settings: ReferralSettings, referrals: Referrals) -> Workers:
    """The delay clocks' loop, in the process that runs the consumers."""
    return delay_clocks(referrals, settings.tick_interval_s) if settings.consumers_enabled else Workers()


def build_metrics(settings: ReferralSettings, referrals: Referrals) -> list[Reading]:
    """The delay clocks of every referral, by standard and state, as they stand when scraped."""

    def clocks() -> list[Sample]:
        counted = referrals.index.clock_states(referrals.clock())
        return [(labels, float(n)) for labels, n in sorted(counted.items())]

    return [Reading("rls_referral_clocks", "Delay clocks by standard and state", ("standard", "state"), clocks)]


def open_store(env: Mapping[str, str]) -> Outbox:
    referrals = Referrals(env=env)
    return referrals, outbox(referrals, AUDIT_PUBLIC_URL)


STORE = StoreReader(Referrals.name, open_store)


def service_identity(settings: ReferralSettings) -> ServiceIdentity:
    """The token the service discloses with: from `REFERRAL_SERVICE_TOKEN_FILE`, else minted with the dev key."""
    if settings.service_token_file is not None:
        return ServiceIdentity(token_file=settings.service_token_file)
    return ServiceIdentity(dev_key=load_dev_key(settings.signing_key_file), audience=settings.jwt_audience)


LIST_CURSORS = b"rls referral list cursors v1"
"""The label the cursors of `GET /v1/referrals` derive their key with (from the vault's master key)."""


def build_cursors(settings: ReferralSettings) -> ListCursors:
    """The listing's cursors, keyed from the vault's master key: a secret every replica already holds."""
    return ListCursors.derived_from(settings.vault_master_key(), LIST_CURSORS)


def build_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    gateways = HttpGateways(
        settings.agreements_url, settings.consent_url, service_identity(settings), settings.directory_cache_s
    )
    state = {"gateways": gateways, "cursors": build_cursors(settings)}
    api = Api(TITLE, [router], DOMAIN_ERRORS, state=state, closers=[gateways.close])
    return create_service_app(SERVICE, settings, build_application(settings), api)


SERVICE: Service[ReferralSettings, Referrals] = Service(
    "referral",
    ReferralSettings,
    build_app,
    build_application,
    build_relay,
    loops=build_loops,
    store=STORE,
    metrics=build_metrics,
)
