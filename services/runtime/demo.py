"""A small demo network: a CSSS, a regional establishment, two community organisations, two agreements.

Loaded through the public REST API (as a partner system would), so it exercises the real write path.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

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


def load_demo(
    agreements_url: str, admin_token: str, coordinator_token: str, marker: Path, today: date
) -> dict[str, Any]:
    """Registers the demo network once; later runs read what the first one recorded in `marker`."""
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
