"""The audit service's application: its own facts (`Audit`, the only write path of its store: what was looked at, by
whom; which retired store ids were acknowledged, by whom, why) and what an auditor can ask (`AuditQueries`, for the
REST API and the CLI alike; every query is recorded first: who, what, when)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from eventsourcing.persistence import IntegrityError
from kafka.errors import KafkaError

from services.audit.acknowledgements import AcknowledgementEntry, Acknowledgements, AcknowledgementsView
from services.audit.domain import (
    Action,
    Channel,
    CheckpointsUnavailableError,
    Inquiry,
    MomentError,
    PeriodError,
    StoreAcknowledgement,
    StoreAlreadyAcknowledgedError,
    StoreNotRetiredError,
    UnknownApplicationError,
    UnknownServiceError,
    checked_reason,
)
from services.audit.inbound import KafkaReplay, Progress, ReplayStats
from services.audit.recheck import Evaluator, RecheckResult, recheck
from services.audit.report import Report, build_report
from services.audit.settings import AuditSettings
from services.audit.states import Kind, state_seen_by
from services.audit.trail import InquiryEntry, Trail, TrailPage, TrailView
from services.audit.verification import StoreVerification, current_store_id, verify_stores
from services.audit.views import Axis, HistoryDB, HistoryRow
from services.common.clock import Clock, system_clock
from services.common.eventstore import StoreRef, TrackedApplication
from services.common.integrity.checkpoints import Checkpoint
from services.common.projections import Projector, StateCodec
from services.contract.delay_standards import policy_of


@dataclass(frozen=True)
class Auditor:
    """Who asks: a user (`sub`) of an organisation, through the REST API or the CLI."""

    sub: str
    org: str
    channel: Channel


class Audit(TrackedApplication):
    name = "audit"

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock = system_clock) -> None:
        super().__init__(env)
        self.clock = clock
        codec = StateCodec(self)
        trail = Projector(self, TrailView(codec))
        acknowledgements = Projector(self, AcknowledgementsView(codec))
        self.projectors = (trail, acknowledgements)
        self.trail = Trail(trail, codec)
        self.acknowledged = Acknowledgements(acknowledgements, codec)

    def record_inquiry(
        self, who: Auditor, action: Action, target: str, parameters: Mapping[str, Any], outcome: str = "ASKED"
    ) -> str:
        """Records that `who` is looking at `target` (parameters as text; never record information)."""
        inquiry = Inquiry(
            auditor=who.sub,
            org=who.org,
            channel=who.channel.value,
            action=action.value,
            target=target,
            parameters={k: str(v) for k, v in parameters.items() if v is not None},
            at=self.clock(),
            outcome=outcome,
        )
        self.save(inquiry)
        return str(inquiry.id)

    def answer_inquiry(self, inquiry_id: str, outcome: str) -> None:
        inquiry: Inquiry = self.repository.get(uuid.UUID(inquiry_id))
        inquiry.answer(outcome, self.clock())
        self.save(inquiry)

    def inquiries(self, org: str | None = None, after: int = 0, limit: int = 100) -> TrailPage:
        """A page of the trail in the order it was recorded: the whole trail's, or one organisation's (`org`), after
        a position of that trail (a cursor), each inquiry with its last outcome."""
        return self.trail.page(org, after, limit)

    def acknowledge_store(
        self, who: Auditor, application: str, store_id: str, reason: str, published: Sequence[Checkpoint]
    ) -> AcknowledgementEntry:
        """Records that `who` acknowledges `store_id` of `application` as retired, for `reason`, covering the
        checkpoints `published` under it so far (`StoreAlreadyAcknowledgedError` when it was acknowledged before)."""
        acknowledgement = StoreAcknowledgement(
            application=application,
            store_id=store_id,
            reason=checked_reason(reason),
            auditor=who.sub,
            org=who.org,
            at=self.clock(),
            checkpoints=len(published),
            up_to_event=max((c.notification_id for c in published), default=0),
        )
        try:
            self.save(acknowledgement)
        except IntegrityError:  # its id derives from the application and store id: made already
            raise StoreAlreadyAcknowledgedError(application, store_id) from None
        return AcknowledgementEntry.of(acknowledgement)

    def acknowledgements(self) -> list[AcknowledgementEntry]:
        """Every acknowledged retired store id, in the order they were acknowledged (as the read model lists them)."""
        return self.acknowledged.all()

    def sealed_acknowledgements(self) -> list[AcknowledgementEntry]:
        """Every acknowledged retired store id as this store's sealed events record them (what verification takes:
        never the read model, which nothing seals)."""
        return self.acknowledged.sealed()


ReportFormat = Literal["html", "csv", "json"]


OUT_OF_RANGE = "out of the calendar's range (years 1 to 9999, in UTC too)"
LAST_PERIOD_DAY = date(9998, 12, 31)
"""The last day a report's period may include: it counts the agreement year that holds it, and buckets past it."""


def parse_moment(text: str, zone: str, *, end_of_day: bool) -> datetime:
    """A date means a day in `zone`: its end (as it stood that day) or its start; a date-time needs an offset."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time.min, ZoneInfo(zone))
            if end_of_day:
                moment += timedelta(days=1) - timedelta(microseconds=1)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MomentError("expected YYYY-MM-DD or an ISO 8601 date-time with an offset") from None
    except OverflowError:
        raise MomentError(OUT_OF_RANGE) from None
    if moment.tzinfo is None:
        raise MomentError("a date-time needs an offset (e.g. 2026-03-02T09:00:00-05:00)")
    return _in_range(moment)


def _in_range(moment: datetime) -> datetime:
    """The moment, if it has a UTC time too (the audit database compares moments in UTC)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise MomentError(OUT_OF_RANGE) from None
    return moment


def parse_period(start: str | None, end: str | None, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end): `--to 2026-03-31` includes that day; without `--from`, the 30 days before the end. A
    `PeriodError` names the bound at fault (`start` when the period does not start before it ends)."""
    try:
        start_at = None if start is None else parse_moment(start, zone, end_of_day=False)
    except MomentError as error:
        raise PeriodError("start", str(error)) from None
    try:
        end_at = now if end is None else parse_moment(end, zone, end_of_day=False)
        if end is not None and len(end) == 10:
            end_at = _in_range(end_at + timedelta(days=1))
    except (MomentError, OverflowError) as error:
        raise PeriodError("end", OUT_OF_RANGE if isinstance(error, OverflowError) else str(error)) from None
    if start_at is None:
        try:
            start_at = _in_range(end_at - timedelta(days=30))
        except (MomentError, OverflowError):
            raise PeriodError("end", f"the 30 days before it are {OUT_OF_RANGE}") from None
    if start_at >= end_at:
        raise PeriodError("start", "the period must start before it ends")
    try:
        last_day = (end_at - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date()
    except OverflowError:
        last_day = date.max
    if last_day > LAST_PERIOD_DAY:
        raise PeriodError("end", f"after {LAST_PERIOD_DAY}: a report counts the agreement year past its last day")
    return start_at, end_at


@dataclass(frozen=True)
class StateAnswer:
    kind: Kind
    id: str
    as_of: datetime
    axis: Axis
    state: dict[str, Any] | None
    shown_until: datetime | None = None
    """When the state shown stops (a referral seen by a former receiver's auditors: the redirection that moved it
    away); None when it is not cut."""


@dataclass
class Outcome:
    """What an inquiry gave (set by the query; `OK` unless it says otherwise)."""

    value: str = "OK"


@dataclass(frozen=True)
class IntegrityAnswer:
    stores: list[StoreVerification]
    checkpoints: int
    checkpoint_problem: str | None

    @property
    def ok(self) -> bool:
        """No store verified is no pass."""
        return self.checkpoint_problem is None and bool(self.stores) and all(s.ok for s in self.stores)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoints_read": self.checkpoints,
            "checkpoint_problem": self.checkpoint_problem,
            "stores": [s.as_dict() for s in self.stores],
        }


CheckpointSource = Callable[[], list[Checkpoint]]
"""Every integrity checkpoint published so far (raises `KafkaError` when they cannot be read)."""


class AuditQueries:
    """The audit service's use cases over the audit database, the stores, the checkpoints and the consent service."""

    def __init__(
        self,
        settings: AuditSettings,
        audit: Audit,
        history: HistoryDB,
        stores: Sequence[StoreRef],
        checkpoints: CheckpointSource,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.audit = audit
        self.history = history
        self.stores = list(stores)
        """Every service's event store (the audit's own included)."""
        self.checkpoints = checkpoints
        self.clock = clock

    @contextmanager
    def _inquiry(self, who: Auditor, action: Action, target: str, **parameters: Any) -> Iterator[Outcome]:
        """Records the query before it runs, then its outcome (`FAILED: <error kind>` if it raised)."""
        inquiry_id = self.audit.record_inquiry(who, action, target, parameters)
        outcome = Outcome()
        try:
            yield outcome
        except Exception as error:
            self.audit.answer_inquiry(inquiry_id, f"FAILED: {type(error).__name__}")
            raise
        self.audit.answer_inquiry(inquiry_id, outcome.value)

    def replay(self, who: Auditor, until: datetime | None, progress: Progress | None = None) -> ReplayStats:
        """Rebuilds the audit database from the topics, from offset 0 (events after `until` left out)."""
        with self._inquiry(who, Action.REPLAY, "topics", until=None if until is None else until.isoformat()) as out:
            self.history.clear()
            stats = KafkaReplay(
                self.settings.kafka_access,
                self.settings.history_topics,
                self.history,
                batch=self.settings.replay_batch,
                until=until,
                timeout_s=self.settings.kafka_timeout_s,
                check_crcs=self.settings.replay_check_crcs,
                progress=progress,
            ).run()
            self.note_replay(stats, until)
            out.value = "OK" if stats.complete else "INCOMPLETE"
        return stats

    def note_replay(self, stats: ReplayStats, until: datetime | None) -> None:
        self.history.set_meta(
            {
                "replay": stats.as_dict()
                | {"until": None if until is None else until.isoformat(), "at": self.clock().isoformat()}
            }
        )

    def last_replay(self, who: Auditor) -> dict[str, Any]:
        with self._inquiry(who, Action.REPLAY_STATUS, "audit-database"):
            replay: dict[str, Any] = self.history.meta().get("replay", {})
        return replay

    def state(
        self,
        who: Auditor,
        kind: Kind,
        entity_id: str,
        as_of: datetime,
        axis: Axis = "effective",
        visible: Callable[[dict[str, Any]], bool] = lambda _: True,
        seen_by: str | None = None,
    ) -> StateAnswer:
        """The state at `as_of` as the auditors of `seen_by` may read it (None: whole; a referral is cut at the
        redirection that moved it away from a former receiver, `state_seen_by`), when `who` may see it
        (`NOT_VISIBLE` on the trail otherwise, and no state; `OK: CUT AT REDIRECTION` when the state shown stops at
        that redirection)."""
        with self._inquiry(who, Action.STATE, f"{kind}/{entity_id}", as_of=as_of.isoformat(), axis=axis) as out:
            seen = state_seen_by(self.history, kind, entity_id, as_of, axis, seen_by)
            state, until = seen.state, seen.until
            if state is None:
                out.value = "NOT_FOUND"
            elif not visible(state):
                state, until, out.value = None, None, "NOT_VISIBLE"
            elif until is not None:
                out.value = "OK: CUT AT REDIRECTION"
        return StateAnswer(kind, entity_id, as_of, axis, state, until)

    def verify(
        self,
        who: Auditor,
        services: Sequence[str] = (),
        progress: Callable[[Any, int], None] | None = None,
    ) -> IntegrityAnswer:
        """Every store against its seals and the published checkpoints (a verification that could not read the
        checkpoints is not a pass: a rewritten and re-sealed store would go unnoticed), or those of `services`
        (`UnknownServiceError` for a name with no store, before anything is read or recorded)."""
        known = sorted({s.service for s in self.stores})
        unknown = sorted(set(services) - set(known))
        if unknown:
            raise UnknownServiceError(unknown, known)
        stores = [s for s in self.stores if not services or s.service in services]
        with self._inquiry(who, Action.VERIFY, ",".join(s.service for s in stores)) as out:
            try:
                checkpoints, problem = self.checkpoints(), None
            except KafkaError as error:
                checkpoints, problem = [], f"checkpoints not readable: {type(error).__name__}"
            acknowledgements = self.audit.sealed_acknowledgements()
            verified = verify_stores(stores, checkpoints, progress, acknowledgements)
            answer = IntegrityAnswer(verified, len(checkpoints), problem)
            out.value = "OK" if answer.ok else "INTEGRITY_FAILED"
        return answer

    def acknowledge(self, who: Auditor, application: str, store_id: str, reason: str) -> AcknowledgementEntry:
        """Acknowledges `store_id` of `application` as retired (a re-installed database, a planned move to a new
        store): its checkpoints published so far are reported by verification, no longer found. Only a retired id
        of an application with a store here (`UnknownApplicationError`) is: not the application's current one
        (`StoreNotRetiredError`; `StoreUnavailableError` when its database does not answer), one it published
        checkpoints under. Every attempt is on the trail, refused or not; the reason is kept in the acknowledgement
        only, never on the trail. Errors name the field at fault, never the values given."""
        with self._inquiry(who, Action.ACKNOWLEDGE, f"{application}/{store_id}"):
            current = current_store_id(self._store_of(application))
            if current is None:
                raise StoreNotRetiredError(
                    "application", "the application's event store cannot be read: its current store id is unknown"
                )
            if store_id == current:
                raise StoreNotRetiredError("store_id", "the store id is the application's current one")
            try:
                checkpoints = self.checkpoints()
            except KafkaError as error:
                raise CheckpointsUnavailableError(f"checkpoints not readable: {type(error).__name__}") from None
            published = [c for c in checkpoints if c.application == application and c.store_id == store_id]
            if not published:
                raise StoreNotRetiredError(
                    "store_id", "no checkpoint of the application was published under the store id"
                )
            return self.audit.acknowledge_store(who, application, store_id, reason, published)

    def _store_of(self, application: str) -> StoreRef:
        store = next((s for s in self.stores if s.application == application), None)
        if store is None:
            raise UnknownApplicationError(sorted({s.application for s in self.stores}))
        return store

    def acknowledgements(self, who: Auditor) -> list[AcknowledgementEntry]:
        """Every acknowledged retired store id, in the order they were acknowledged."""
        with self._inquiry(who, Action.ACKNOWLEDGEMENTS, "acknowledgements"):
            return self.audit.acknowledgements()

    def recheck(
        self,
        who: Auditor,
        evaluator: Evaluator,
        regime: str | None = None,
        regime_version: str | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        visible: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> RecheckResult:
        """Re-evaluates the recorded decisions `who` may see (by their event payload)."""
        with self._inquiry(who, Action.RECHECK, "decisions", regime=regime, regime_version=regime_version) as out:
            if on_total is not None:
                on_total(self.history.count_of("decision"))

            def decisions() -> Iterator[HistoryRow]:  # streamed: ten years of decisions are not held at once
                for row in self.history.each_event_of("decision"):
                    if visible(row.payload):
                        yield row
                    elif progress is not None:
                        progress(1)  # read, not for this auditor

            result = recheck(decisions(), evaluator, regime, regime_version, progress)
            out.value = f"OK: {result.checked} checked, {len(result.differing)} differ"
        return result

    def report(self, who: Auditor, start: datetime, end: datetime, fmt: ReportFormat) -> Report:
        policy = policy_of(self.settings.standard_bounds_s, zone=ZoneInfo(self.settings.timezone))
        with self._inquiry(who, Action.REPORT, "compliance", start=start.isoformat(), end=end.isoformat(), format=fmt):
            return build_report(
                self.history,
                start,
                end,
                policy.bounds,
                self.settings.timezone,
                self.clock(),
                changes=policy.changes,
            )

    def trail(self, who: Auditor, after: int, limit: int, scope: str | None = None) -> TrailPage:
        """The inquiries after position `after` (a page of `limit` of them): of the whole trail, or only those made
        by auditors of the organisation `scope`, paged by that organisation's own positions (a page is never short
        because others asked, and says nothing of how many they asked). In an organisation's view, a read of
        something the auditor may not see shows as a read of nothing: told apart, they would tell an organisation
        which ids of the others exist, and since when."""
        with self._inquiry(who, Action.TRAIL, "inquiries", after=after, limit=limit):
            page = self.audit.inquiries(scope, after, limit)
        if scope is None:
            return page
        return replace(page, entries=[_as_read_of_nothing(e) for e in page.entries])


def _as_read_of_nothing(entry: InquiryEntry) -> InquiryEntry:
    return replace(entry, outcome="NOT_FOUND") if entry.outcome == "NOT_VISIBLE" else entry
