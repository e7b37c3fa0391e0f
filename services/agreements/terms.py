"""What an agreement commits its parties to (value objects) and the calendar of its term; the rules each kind of
agreement must satisfy are the domain's (`domain.checked_terms`).

Dates of an agreement (start, end, review dates) are calendar dates in the agreement's time zone
(America/Montreal unless configured): the term runs from `start` at 00:00 to the end of `end` (inclusive),
so an agreement becomes active at `start` 00:00 local time and expires at `end + 1 day` 00:00 local time.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.contract.codes import AgreementKind, OrgKind

DEFAULT_ZONE = "America/Montreal"
COMMUNITY_KIND = OrgKind.COMMUNITY_ORGANISATION.value
INSTITUTION_KINDS = frozenset(k.value for k in (OrgKind.CSSS, OrgKind.ESTABLISHMENT, OrgKind.REGIONAL_ESTABLISHMENT))
"""Institutions: the only parties on whose behalf services can be provided under art. 108."""

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
"""The range of an agreement's dates (start, end, a renewal's end) and of service hours' days: the calendar must hold
the day after the last (an agreement expires when it begins) and the agreement year holding it."""


REQUIRED_TERMS = ("kind", "title", "parties", "services", "clientele", "start", "review_every_months")
"""The terms every agreement has: an amendment changes them, never removes them."""


def out_of_range(day: date) -> bool:
    return not FIRST_DAY <= day <= LAST_DAY


def local_midnight(day: date, zone: str) -> datetime:
    """The instant a calendar day begins in `zone`."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def local_date(at: datetime, zone: str) -> date:
    """The calendar day `at` falls on in `zone`."""
    return at.astimezone(ZoneInfo(zone)).date()


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def agreement_year(start: date, day: date) -> tuple[date, date]:
    """The agreement year (anniversary of `start` to the day before the next) holding `day` (the first if before)."""
    years = max(0, day.year - start.year)
    while years > 0 and add_months(start, 12 * years) > day:
        years -= 1
    first = add_months(start, 12 * years)
    return first, add_months(start, 12 * (years + 1)) - timedelta(days=1)


@dataclass(frozen=True)
class Volume:
    """Annual volume of activity committed for one service."""

    service: str
    per_year: int


@dataclass(frozen=True)
class Funding:
    """Money attached to a service agreement (amount as a decimal string)."""

    amount: str
    currency: str


@dataclass(frozen=True)
class OnBehalf:
    """Services the other parties provide on behalf of the institution `of_org` (art. 108 para. 1)."""

    of_org: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Terms:
    """One version of an agreement's terms (value object; stored as a JSON document in events)."""

    kind: AgreementKind
    title: str
    parties: tuple[str, ...]
    services: tuple[str, ...]
    clientele: str
    start: date
    end: date | None = None
    volumes: tuple[Volume, ...] = ()
    funding: Funding | None = None
    information_sharing: tuple[str, ...] | None = None
    mechanisms: tuple[str, ...] = ()
    responsibilities: tuple[str, ...] = ()
    review_every_months: int = 12
    respects_community_orientations: bool | None = None
    """Recorded for agreements with a community organisation (None: decided from the parties' kinds)."""
    on_behalf: tuple[OnBehalf, ...] = ()
    """SERVICE_108 only. Agreements drafted before it existed have none: they carry no information without consent."""

    def replace(self, **changes: Any) -> Terms:
        return dataclasses.replace(self, **changes)

    def volume_for(self, service: str) -> int | None:
        return next((v.per_year for v in self.volumes if v.service == service), None)

    def binds(self, from_org: str, to_org: str, service: str) -> bool:
        """Whether these terms cover a referral from `from_org` to `to_org` for `service`."""
        return from_org != to_org and {from_org, to_org} <= set(self.parties) and service in self.services

    def provided_on_behalf(self, of_org: str, by_org: str, service: str) -> bool:
        """Whether `by_org` provides `service` on behalf of the institution `of_org` under these terms."""
        return self.binds(of_org, by_org, service) and any(
            entry.of_org == of_org and service in entry.services for entry in self.on_behalf
        )

    def changes_from(self, before: Terms) -> list[str]:
        """The names of the terms that differ from `before`, in document order."""
        earlier = before.to_document()
        return [name for name, value in self.to_document().items() if earlier[name] != value]

    def amended(self, document: Mapping[str, Any]) -> Terms:
        """The terms a stored change of these (an amendment, a renewal, a proposal) sets. A required term it holds
        as null (`/amend` recorded `{"title": null}` before nulls were refused) was not amended: it keeps its value
        here. The aggregate reads every change through this, so every reader (the agreement, its versions and
        history, the events published) agrees."""
        kept = self.to_document()
        unchanged = {name: kept[name] for name in REQUIRED_TERMS if name in document and document[name] is None}
        return Terms.from_document({**document, **unchanged})

    def to_document(self) -> dict[str, Any]:
        """JSON-friendly form, as stored in events."""
        return {
            "kind": self.kind.value,
            "title": self.title,
            "parties": list(self.parties),
            "services": list(self.services),
            "clientele": self.clientele,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "volumes": [dataclasses.asdict(v) for v in self.volumes],
            "funding": dataclasses.asdict(self.funding) if self.funding else None,
            "information_sharing": list(self.information_sharing) if self.information_sharing is not None else None,
            "mechanisms": list(self.mechanisms),
            "responsibilities": list(self.responsibilities),
            "review_every_months": self.review_every_months,
            "respects_community_orientations": self.respects_community_orientations,
            "on_behalf": [{"of_org": e.of_org, "services": list(e.services)} for e in self.on_behalf],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Terms:
        sharing = document.get("information_sharing")
        funding = document.get("funding")
        return cls(
            kind=AgreementKind(document["kind"]),
            title=document["title"],
            parties=tuple(document["parties"]),
            services=tuple(document["services"]),
            clientele=document["clientele"],
            start=date.fromisoformat(document["start"]),
            end=date.fromisoformat(document["end"]) if document.get("end") else None,
            volumes=tuple(Volume(v["service"], int(v["per_year"])) for v in document.get("volumes") or []),
            funding=Funding(str(funding["amount"]), funding["currency"]) if funding else None,
            information_sharing=tuple(sharing) if sharing is not None else None,
            mechanisms=tuple(document.get("mechanisms") or ()),
            responsibilities=tuple(document.get("responsibilities") or ()),
            review_every_months=int(document.get("review_every_months", 12)),
            respects_community_orientations=document.get("respects_community_orientations"),
            on_behalf=tuple(OnBehalf(e["of_org"], tuple(e["services"])) for e in document.get("on_behalf") or ()),
        )
