"""A small demo network: a CSSS, a regional establishment, two community organisations, two agreements in force
(signed by every party), and each organisation's subscription to its referral topic.

Loaded through the public REST API (as a partner system would), so it exercises the real write path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.common.auth import ADMIN, PLATFORM_ORG

CSSS = "csss-vieille-capitale"
REGIONAL = "crdp-capitale-nationale"
CRISIS_CENTRE = "centre-crise-quebec"
LISTENING_LINE = "tel-aide-quebec"

ORGANISATIONS: list[dict[str, Any]] = [
    {
        "id": CSSS,
        "name": "CSSS de la Vieille-Capitale",
        "kind": "CSSS",
        "territory": "RLS Vieille-Capitale",
        "services": [
            "AAOR",
            "INFO_SOCIAL",
            "CRISIS_24_7",
            "SOCIAL_CONSULT",
            "PSYCH_CONSULT",
            "SPECIFIC_SERVICES",
        ],
    },
    {
        "id": REGIONAL,
        "name": "Centre régional de réadaptation de la Capitale-Nationale",
        "kind": "REGIONAL_ESTABLISHMENT",
        "territory": "Capitale-Nationale",
        "services": ["SPECIALISED_SERVICES", "SPECIFIC_SERVICES"],
    },
    {
        "id": CRISIS_CENTRE,
        "name": "Centre de crise de Québec",
        "kind": "COMMUNITY_ORGANISATION",
        "territory": "RLS Vieille-Capitale",
        "services": ["CRISIS_24_7", "COMMUNITY_SERVICE"],
    },
    {
        "id": LISTENING_LINE,
        "name": "Tel-Aide Québec",
        "kind": "COMMUNITY_ORGANISATION",
        "territory": "Capitale-Nationale",
        "services": ["COMMUNITY_SERVICE"],
    },
]


def agreements(today: date) -> list[dict[str, Any]]:
    start = today.replace(month=1, day=1)
    return [
        {
            "kind": "SERVICE_108",
            "title": "Entente de service — services spécialisés de réadaptation",
            "parties": [CSSS, REGIONAL],
            "services": ["SPECIALISED_SERVICES", "SPECIFIC_SERVICES"],
            "clientele": "Adults with a physical disability referred by the CSSS",
            "start": start.isoformat(),
            "end": (start + timedelta(days=3 * 365)).isoformat(),
            "volumes": [
                {"service": "SPECIALISED_SERVICES", "per_year": 120},
                {"service": "SPECIFIC_SERVICES", "per_year": 40},
            ],
            "funding": {"amount": "250000.00", "currency": "CAD"},
            "information_sharing": {"categories": ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON", "ASSESSMENT"]},
            # art. 108: the specialised services are provided on the CSSS's behalf; the specific services are not
            "on_behalf": [{"of_org": CSSS, "services": ["SPECIALISED_SERVICES"]}],
            "mechanisms": ["monthly liaison committee"],
            "review_every_months": 12,
        },
        {
            "kind": "COLLABORATION",
            "title": "Entente-cadre de collaboration — crise et écoute",
            "parties": [CSSS, CRISIS_CENTRE, LISTENING_LINE],
            "services": ["CRISIS_24_7", "COMMUNITY_SERVICE"],
            "clientele": "People in crisis or distress on the territory",
            "start": start.isoformat(),
            "mechanisms": ["intake", "referral", "liaison", "joint follow-up"],
            "review_every_months": 12,
        },
    ]


TokenFor = Callable[[str, list[str]], str]
"""Mints a token for an organisation (a demo organisation, or the platform's own) with the given roles."""


def subscribe_demo_topics(notifications_url: str, token_for: Callable[[str], str]) -> None:
    """Each demo organisation receives the referral events concerning it on its own topic (the walkthrough reads
    one). Idempotent: the same Idempotency-Key names the same subscription on every run."""
    with httpx.Client(base_url=notifications_url, timeout=10) as client:
        for organisation in ORGANISATIONS:
            org_id = organisation["id"]
            response = client.post(
                "/v1/subscriptions",
                json={"org_id": org_id, "channel": "KAFKA_TOPIC"},
                headers={"Authorization": f"Bearer {token_for(org_id)}", "Idempotency-Key": "demo-topic"},
            )
            if response.status_code not in (201, 409):  # 409: the organisation subscribed to its topic otherwise
                response.raise_for_status()


def register_network(client: httpx.Client, token_for: TokenFor, today: date) -> list[str]:
    """Organisations, registered by the platform's administrator (the directory is no establishment's to write), then
    each agreement drafted by the CSSS and signed by every party (in force from Jan 1)."""
    directory_admin = {"Authorization": f"Bearer {token_for(PLATFORM_ORG, [ADMIN])}"}
    for organisation in ORGANISATIONS:
        response = client.post("/v1/organisations", json=organisation, headers=directory_admin)
        if response.status_code not in (201, 409):
            response.raise_for_status()
    ids = []
    for agreement in agreements(today):
        response = client.post(
            "/v1/agreements", json=agreement, headers={"Authorization": f"Bearer {token_for(CSSS, ['coordinator'])}"}
        )
        response.raise_for_status()
        agreement_id = response.json()["id"]
        for party in agreement["parties"]:
            client.post(
                f"/v1/agreements/{agreement_id}/sign",
                headers={"Authorization": f"Bearer {token_for(party, ['coordinator'])}"},
            ).raise_for_status()
        ids.append(agreement_id)
    return ids


def load_demo(urls: dict[str, str], token_for: TokenFor, marker: Path, today: date) -> dict[str, Any]:
    """Registers the demo network once (later runs read what the first one recorded in `marker`); every run makes
    sure each demo organisation subscribes to its topic."""
    subscribe_demo_topics(urls["notifications"], lambda org_id: token_for(org_id, ["admin"]))
    if marker.exists():
        loaded: dict[str, Any] = json.loads(marker.read_text())
        return loaded
    with httpx.Client(base_url=urls["agreements"], timeout=10) as client:
        ids = register_network(client, token_for, today)
    loaded = {"organisations": [o["id"] for o in ORGANISATIONS], "agreements": ids}
    marker.write_text(json.dumps(loaded, indent=2))
    return loaded
