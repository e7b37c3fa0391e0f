"""The user's language (French unless they chose English) and Québec time for every date shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.console.catalogue import CODES, TEXTS

Lang = Literal["fr", "en"]
LANGUAGES: tuple[Lang, ...] = ("fr", "en")

MONTHS: dict[Lang, tuple[str, ...]] = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def as_lang(value: str | None, default: Lang = "fr") -> Lang:
    return "en" if value == "en" else "fr" if value == "fr" else default


def parse_moment(value: str | datetime | None) -> datetime | None:
    """An API timestamp (ISO 8601 with offset) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Translator:
    """Texts, code labels, dates and durations in one language; dates in the console's time zone."""

    lang: Lang
    zone: ZoneInfo

    def t(self, key: str, **values: object) -> str:
        pair = TEXTS[key]
        text = pair[0] if self.lang == "fr" else pair[1]
        return text.format(**values) if values else text

    def code(self, family: str, value: str | None) -> str:
        """The label of a contract code (the code itself when the catalogue has none: a newer server)."""
        if value is None:
            return "—"
        pair = CODES.get(family, {}).get(value)
        if pair is None:
            return value
        return pair[0] if self.lang == "fr" else pair[1]

    def roles(self, roles: tuple[str, ...]) -> str:
        """Role names in the user's language (a role the console does not know is shown as is)."""
        return ", ".join(self.t(f"role.{r}") if f"role.{r}" in TEXTS else r for r in roles)

    def day(self, value: date | str | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        month = MONTHS[self.lang][value.month - 1]
        if self.lang == "fr":
            return f"{'1er' if value.day == 1 else value.day} {month} {value.year}"
        return f"{month} {value.day}, {value.year}"

    def when(self, value: datetime | str | None) -> str:
        """A moment in Québec time: `12 mars 2026, 14 h 05` / `March 12, 2026, 2:05 PM`."""
        moment = parse_moment(value)
        if moment is None:
            return "—"
        local = moment.astimezone(self.zone)
        if self.lang == "fr":
            return f"{self.day(local.date())}, {local.hour} h {local.minute:02d}"
        hour = local.hour % 12 or 12
        return f"{self.day(local.date())}, {hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"

    def iso_local(self, value: datetime | str | None) -> str:
        """The machine-readable local time for `<time datetime>` and form defaults."""
        moment = parse_moment(value)
        return "" if moment is None else moment.astimezone(self.zone).isoformat(timespec="minutes")

    def duration(self, seconds: float) -> str:
        """`3 j 4 h`, `2 h 15 min`, `12 min` (days: `j` in French, `d` in English)."""
        minutes = int(abs(seconds) // 60)
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        if days:
            return f"{days} {'j' if self.lang == 'fr' else 'd'} {hours} h"
        if hours:
            return f"{hours} h {mins:02d} min"
        return f"{mins} min"
