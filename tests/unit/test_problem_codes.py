"""Problem codes are part of the contract users see: one code per meaning across services, each with one status and
one title. This is the whole set; a new code (or a second code for a meaning) shows up here first."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from services.common.problems import _HTTP_SLUGS

SERVICES = Path(__file__).resolve().parents[2] / "services"

EXPECTED: dict[str, int] = {
    # every service (services/common/problems.py)
    "unauthenticated": 401,
    "forbidden": 403,
    "validation": 422,
    "content-too-large": 413,
    "version-conflict": 409,  # was also `revision-conflict` (agreements, notifications) before issue 13
    "transition-impossible": 409,  # was also `agreement-transition-refused` (agreements)
    "idempotency-key-reused": 409,
    "dependency-unavailable": 503,  # was also `kafka-unavailable` (notifications), `consent-unavailable` (audit, 502)
    "not-ready": 503,
    "internal": 500,
    # the HTTP layer (unknown path, method, media type)
    "not-found": 404,
    "method-not-allowed": 405,
    "conflict": 409,
    "unsupported-media-type": 415,
    # what is not found, by kind of resource
    "referral-not-found": 404,
    "organisation-not-found": 404,
    "agreement-not-found": 404,
    "consent-not-found": 404,
    "restriction-not-found": 404,
    "refusal-not-found": 404,
    "decision-not-found": 404,
    "subscription-not-found": 404,
    "delivery-not-found": 404,
    "kafka-credentials-not-found": 404,
    "state-not-found": 404,
    # a resource already in the end state asked for (a repeated withdrawal: nothing to retry)
    "consent-already-withdrawn": 409,
    "restriction-already-lifted": 409,
    "refusal-already-withdrawn": 409,
    # one service's own
    "organisation-exists": 409,
    "subscription-exists": 409,
    "subscription-without-secret": 409,  # a topic subscription asked to rotate its (absent) signing secret
    "subscription-limit-reached": 409,  # an organisation's live subscriptions (NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG)
    "unknown-organisation": 422,
    "information-erased": 410,
    "disclosure-denied": 403,
    "disclosure-rejected": 422,
    "referral-ended": 403,
    "rule-table-unavailable": 409,
    "record-limit-reached": 409,  # a person's consents, restrictions and refusals (CONSENT_MAX_RECORDS_PER_PERSON)
    "unknown-rule-table": 422,
    "store-already-acknowledged": 409,
    "kafka-credentials-unavailable": 409,
}

_LITERAL = re.compile(r'(?:ProblemSpec|ProblemError|problem_response)\(\s*(\d{3}),\s*"([a-z-]+)",\s*"([^"]+)"')


def declared() -> dict[str, set[tuple[int, str]]]:
    """Every (status, title) each code is declared with in the services' code (the console declares none)."""
    found: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for path in SERVICES.rglob("*.py"):
        if "console" in path.parts:
            continue
        for status, slug, title in _LITERAL.findall(path.read_text()):
            found[slug].add((int(status), title))
    for status, slug in _HTTP_SLUGS.items():  # titled by the HTTP error itself
        found.setdefault(slug, {(status, "Not Found, Method Not Allowed, ...")})
    return found


def test_the_set_of_problem_codes_is_the_documented_one() -> None:
    assert set(declared()) == set(EXPECTED)


def test_each_problem_code_has_one_status_and_one_title() -> None:
    for slug, uses in declared().items():
        assert {status for status, _ in uses} == {EXPECTED[slug]}, slug
        assert len(uses) == 1, f"{slug} is declared with several titles: {sorted(uses)}"
