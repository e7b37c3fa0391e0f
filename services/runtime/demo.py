"""A small demo network: a CSSS, a regional establishment, two community organisations, two agreements, and each
organisation's subscription to its referral topic.

Loaded through the public REST API (as a partner system would), so it exercises the real write path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.common.auth import load_dev_key, mint_dev_token
from services.runtime.registry import settings_class
from services.runtime.settings import RuntimeSettings

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
        "services": ["SPECIALISED_SERVICES"],
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
            "services": ["SPECIALISED_SERVICES"],
            "clientele": "Adults with a physical disability referred by the CSSS",
            "start": start.isoformat(),
            "end": (start + timedelta(days=3 * 365)).isoformat(),
            "volumes": [{"service": "SPECIALISED_SERVICES", "per_year": 120}],
            "funding": {"amount": "250000.00", "currency": "CAD"},
            "information_sharing": {"categories": ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON", "ASSESSMENT"]},
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


def _local_notifications() -> tuple[str, Callable[[str], str]] | None:
    """The local notifications service and a dev token for any demo organisation (dev mode only)."""
    settings = RuntimeSettings()
    if settings.mode != "dev":
        return None
    notifications = settings_class("notifications")()
    key = load_dev_key(settings.signing_key_file, create=False)

    def token_for(org_id: str) -> str:
        return mint_dev_token(key, org_id, ["admin"], "demo-admin", settings.jwt_audience, timedelta(minutes=5))

    return f"http://{notifications.host}:{notifications.port}", token_for


def load_demo(
    agreements_url: str,
    admin_token: str,
    coordinator_token: str,
    marker: Path,
    today: date,
    notifications: tuple[str, Callable[[str], str]] | None = None,
) -> dict[str, Any]:
    """Registers the demo network once; later runs read what the first one recorded in `marker`. Every run makes
    sure each demo organisation subscribes to its topic (`notifications`: the service's URL and a token minter;
    by default the local service and the dev key)."""
    notifications = notifications or _local_notifications()
    if notifications is not None:
        subscribe_demo_topics(*notifications)
    if marker.exists():
        loaded: dict[str, Any] = json.loads(marker.read_text())
        return loaded
    with httpx.Client(base_url=agreements_url, timeout=10) as client:
        for organisation in ORGANISATIONS:
            response = client.post(
                "/v1/organisations", json=organisation, headers={"Authorization": f"Bearer {admin_token}"}
            )
            if response.status_code not in (201, 409):
                response.raise_for_status()
        ids = []
        for agreement in agreements(today):
            response = client.post(
                "/v1/agreements", json=agreement, headers={"Authorization": f"Bearer {coordinator_token}"}
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
    loaded = {"organisations": [o["id"] for o in ORGANISATIONS], "agreements": ids}
    marker.write_text(json.dumps(loaded, indent=2))
    return loaded
