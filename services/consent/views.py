"""The consent application's read model, a projection (`services.common.projections`) of its own event log into
indexed tables of its database: consents, restrictions and refusals by person, organisations' kinds and agreements'
states over time (as observed from `rls.agreements.v1`), and the disclosure register.

Every read first applies what was recorded since, so a decision always sees every withdrawal committed before it.
Records keep their state encoded like the store's events (encrypted when the store is); people are indexed by a
digest of their pseudonymous id.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from eventsourcing.utils import get_topic

from services.common.projections import Database, EventTally, Labels, Projection, Projector, StateCodec, Tx, micros
from services.consent.domain import (
    AgreementObserved,
    Consent,
    DecisionRecord,
    OrganisationObserved,
    Refusal,
    RegisterEntry,
    Restriction,
)
from services.consent.policy import (
    AGE_FROM_REQUEST,
    AgreementFact,
    ConsentFact,
    DecisionInput,
    Facts,
    OnBehalfFact,
    RefusalFact,
    RestrictionFact,
    age_band,
    start_of_local_day,
)
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Purpose,
    RequesterRole,
    ServiceCode,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ConsentState:
    consent_id: str
    version: int
    subject_id: str
    subject_birth_date: date
    grantor_role: str
    grantor_mandate_ref: str | None
    grantor_scope: tuple[str, ...] | None
    method: str
    purposes: tuple[str, ...]
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    recorded_at: datetime
    recorded_by_org: str
    withdrawn_at: datetime | None = None
    withdrawal_recorded_at: datetime | None = None
    discloser_org_ids: tuple[str, ...] = ()
    """The organisations the consent authorises to communicate (empty: the one that recorded it)."""

    def authorises(self, discloser_org_id: str) -> bool:
        """Whether it authorises this organisation to communicate: it recorded it, or the consent names it."""
        return discloser_org_id == self.recorded_by_org or discloser_org_id in self.discloser_org_ids

    def fact(self, at: datetime) -> ConsentFact:
        return ConsentFact(
            consent_id=self.consent_id,
            grantor_role=GrantorRole(self.grantor_role),
            grantor_scope=None if self.grantor_scope is None else tuple(Purpose(p) for p in self.grantor_scope),
            age_band_at_start=age_band(self.subject_birth_date, self.valid_from),
            age_band_at_decision=age_band(self.subject_birth_date, at),
            method=ConsentMethod(self.method),
            purposes=tuple(Purpose(p) for p in self.purposes),
            recipient_org_ids=self.recipient_org_ids,
            recipient_kinds=tuple(OrgKind(k) for k in self.recipient_kinds),
            categories=tuple(InfoCategory(c) for c in self.categories),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            withdrawn_at=self.withdrawn_at,
            given_at=min(self.valid_from, self.recorded_at),
            age_band_when_given=age_band(self.subject_birth_date, min(self.valid_from, self.recorded_at)),
            recorded_by_org=self.recorded_by_org,
            discloser_org_ids=self.discloser_org_ids,
        )


@dataclass(frozen=True)
class RestrictionState:
    restriction_id: str
    version: int
    subject_id: str
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[str, ...]
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: datetime
    recorded_at: datetime
    recorded_by_org: str
    lifted_at: datetime | None = None

    def fact(self) -> RestrictionFact:
        return RestrictionFact(
            restriction_id=self.restriction_id,
            recipient_org_ids=self.recipient_org_ids,
            recipient_kinds=tuple(OrgKind(k) for k in self.recipient_kinds),
            purposes=tuple(Purpose(p) for p in self.purposes),
            categories=tuple(InfoCategory(c) for c in self.categories),
            valid_from=self.valid_from,
            lifted_at=self.lifted_at,
            bars_unknown_kind=True,
        )


@dataclass(frozen=True)
class RefusalState:
    refusal_id: str
    version: int
    subject_id: str
    requester_roles: tuple[str, ...]
    given_at: datetime
    document_ref: str | None
    recorded_at: datetime
    recorded_by_org: str
    withdrawn_at: datetime | None = None

    def fact(self) -> RefusalFact:
        return RefusalFact(
            refusal_id=self.refusal_id,
            requester_roles=tuple(RequesterRole(r) for r in self.requester_roles),
            given_at=self.given_at,
            withdrawn_at=self.withdrawn_at,
        )


@dataclass(frozen=True)
class RegisterRow:
    seq: int
    register_entry_id: str
    decision_id: str
    at: datetime
    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    categories: tuple[str, ...]
    purpose: str
    bases: tuple[dict[str, Any], ...]
    obligations: tuple[str, ...]
    regime: str
    justification: str | None
    reference: str | None
    disclosed_by: str | None
    regime_superseded: bool
    conditions: dict[str, Any]


@dataclass(frozen=True)
class RegisterQuery:
    subject_id: str | None = None
    discloser_org_id: str | None = None
    recipient_org_id: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    disclosed_by: str | None = None
    """Only the entries this worker made (`sub`): what a member of the discloser who does not read its whole register
    reads of it."""
    after: int = 0
    limit: int = 100

    def cursor_binding(self, caller_org: str) -> tuple[str | None, ...]:
        """What a cursor of this page is bound to: who reads (the organisation, and whose register it may read) and
        the filters, instants in UTC (`services.common.cursors`). Not the worker a listing is narrowed to: a position
        in the organisation's register tells a member of it nothing, and any role of it may page on from it."""
        moments = (None if m is None else aware(m).astimezone(UTC).isoformat() for m in (self.from_, self.to))
        return (caller_org, self.discloser_org_id, self.subject_id, self.recipient_org_id, *moments)


def aware(moment: datetime) -> datetime:
    """A moment from upstream without an offset is UTC (CloudEvent times are)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


FACTS = frozenset(
    get_topic(cls)
    for cls in (
        Consent.Recorded,
        Consent.Withdrawn,
        Restriction.Recorded,
        Restriction.Lifted,
        Refusal.Recorded,
        Refusal.Withdrawn,
        OrganisationObserved.Observed,
        AgreementObserved.Observed,
    )
)
"""What decisions read: a decision waits for none of the decisions and register entries recorded before it."""

Record = ConsentState | RestrictionState | RefusalState
KINDS: dict[str, type[Record]] = {"consent": ConsentState, "restriction": RestrictionState, "refusal": RefusalState}


def subject_key(subject_id: str) -> str:
    """What the tables index a person by: a digest of the pseudonymous id, which itself stays in the encrypted state."""
    return hashlib.sha256(f"rls-consent-subject\x1f{subject_id}".encode()).hexdigest()


def worker_key(sub: str) -> str:
    """What the register indexes the worker who disclosed by: a digest of their `sub`, kept in the encrypted state."""
    return hashlib.sha256(f"rls-consent-worker\x1f{sub}".encode()).hexdigest()


def state_dict(value: Any) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def from_state(cls: type[T], state: dict[str, Any]) -> T:
    """A frozen dataclass from its encoded fields (JSON gave lists back where it had tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in state.items()})


def agreement_fact(e: dict[str, Any]) -> AgreementFact:
    return AgreementFact(
        agreement_id=e["agreement_id"],
        kind=AgreementKind(e["kind"]),
        status=AgreementStatus(e["status"]),
        parties=tuple(e["parties"]),
        start=e["start"],
        end=e["end"],
        information_sharing=tuple(InfoCategory(c) for c in e["information_sharing"]),
        state_since=aware(e["occurred_at"]),
        on_behalf=tuple(
            OnBehalfFact(o["of_org"], tuple(ServiceCode(x) for x in o["services"])) for o in e["on_behalf"]
        ),
    )


ORG_KIND_AT = (
    "SELECT kind FROM consent_org_kinds WHERE org_id = ? AND occurred_at <= ? "
    "ORDER BY occurred_at DESC, seq DESC LIMIT 1"
)
"""An organisation's kind in force at a moment (parameters: organisation, moment in microseconds)."""

AGREEMENTS_BETWEEN = (
    "SELECT a.agreement_id, a.occurred_at, a.seq, a.state FROM consent_agreements a "
    "JOIN consent_parties p ON p.agreement_id = a.agreement_id AND p.party = ? "
    "JOIN consent_parties q ON q.agreement_id = a.agreement_id AND q.party = ? "
    "WHERE a.occurred_at <= ? ORDER BY a.agreement_id, a.occurred_at, a.seq"
)
"""The states of the agreements linking two organisations up to a moment, in the order they occurred."""


class EncodedProjection(Projection):
    """A consent projection keeping records' states encoded like the store's events."""

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec


class ConsentView(EncodedProjection):
    """What decisions read: consents, restrictions and refusals by person; organisations' kinds and agreements'
    states over time, as observed from `rls.agreements.v1`."""

    name = "consent_view"
    tables = ("consent_records", "consent_org_kinds", "consent_agreements", "consent_parties")
    topics = FACTS
    version = "2"
    """2: records by person and holding organisation (a person's bound is per holder; a decision reads its parties')."""

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE consent_records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,
                holder TEXT NOT NULL, seq BIGINT NOT NULL, state {db.blob} NOT NULL)""",
            "CREATE INDEX consent_records_subject ON consent_records (subject, holder, seq)",
            """CREATE TABLE consent_org_kinds (org_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, seq BIGINT NOT NULL,
                kind TEXT NOT NULL, PRIMARY KEY (org_id, occurred_at, seq))""",
            f"""CREATE TABLE consent_agreements (agreement_id TEXT NOT NULL, occurred_at BIGINT NOT NULL,
                seq BIGINT NOT NULL, state {db.blob} NOT NULL, PRIMARY KEY (agreement_id, occurred_at, seq))""",
            """CREATE TABLE consent_parties (party TEXT NOT NULL, agreement_id TEXT NOT NULL,
                PRIMARY KEY (party, agreement_id))""",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for seq, e in events:
            self._apply(tx, e, seq)

    def _apply(self, tx: Tx, e: Any, seq: int) -> None:
        if isinstance(e, Consent.Recorded | Restriction.Recorded | Refusal.Recorded):
            self._record(tx, _recorded(e), seq)
        elif isinstance(e, Consent.Withdrawn):
            self._change(tx, ConsentState, e, withdrawn_at=e.withdrawn_at, withdrawal_recorded_at=e.recorded_at)
        elif isinstance(e, Restriction.Lifted):
            self._change(tx, RestrictionState, e, lifted_at=e.lifted_at)
        elif isinstance(e, Refusal.Withdrawn):
            self._change(tx, RefusalState, e, withdrawn_at=e.withdrawn_at)
        elif isinstance(e, OrganisationObserved.Observed):
            tx.execute(
                "INSERT INTO consent_org_kinds (org_id, occurred_at, seq, kind) VALUES (?, ?, ?, ?)",
                (e.org_id, micros(aware(e.occurred_at)), seq, OrgKind(e.kind).value),
            )
        elif isinstance(e, AgreementObserved.Observed):
            state = {
                key: getattr(e, key)
                for key in ("agreement_id", "kind", "status", "start", "end", "information_sharing", "occurred_at")
            }
            state.update(parties=list(e.parties), on_behalf=[dict(o) for o in e.on_behalf])
            tx.execute(
                "INSERT INTO consent_agreements (agreement_id, occurred_at, seq, state) VALUES (?, ?, ?, ?)",
                (e.agreement_id, micros(aware(e.occurred_at)), seq, self.codec.encode(state)),
            )
            tx.executemany(
                "INSERT INTO consent_parties (party, agreement_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(party, e.agreement_id) for party in e.parties],
            )

    def _record(self, tx: Tx, record: Record, seq: int) -> None:
        kind = next(k for k, cls in KINDS.items() if isinstance(record, cls))
        tx.execute(
            "INSERT INTO consent_records (id, kind, subject, holder, seq, state) VALUES (?, ?, ?, ?, ?, ?)",
            (
                _id_of(record),
                kind,
                subject_key(record.subject_id),
                record.recorded_by_org,
                seq,
                self.codec.encode(state_dict(record)),
            ),
        )

    def _change(self, tx: Tx, cls: type[Record], e: Any, **changes: Any) -> None:
        key = str(e.originator_id)
        row = tx.one("SELECT state FROM consent_records WHERE id = ?", (key,))
        assert row is not None, "a change of a record the view never saw"
        record = dataclasses.replace(
            from_state(cls, self.codec.decode(row[0])), version=e.originator_version, **changes
        )
        tx.execute("UPDATE consent_records SET state = ? WHERE id = ?", (self.codec.encode(state_dict(record)), key))


class RegisterView(EncodedProjection):
    """The disclosure register, by person, discloser (and the worker who disclosed: version 2) and recipient."""

    name = "consent_register_view"
    tables = ("consent_register",)
    topics = frozenset({get_topic(RegisterEntry.Registered)})
    version = "2"

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE consent_register (seq BIGINT PRIMARY KEY, subject TEXT NOT NULL, discloser TEXT NOT NULL,
                recipient TEXT NOT NULL, at BIGINT NOT NULL, worker TEXT, state {db.blob} NOT NULL)""",
            "CREATE INDEX consent_register_subject ON consent_register (subject, seq)",
            "CREATE INDEX consent_register_discloser ON consent_register (discloser, seq)",
            "CREATE INDEX consent_register_worker ON consent_register (discloser, worker, seq)",
            "CREATE INDEX consent_register_recipient ON consent_register (recipient, seq)",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        rows = [_register_row(e, seq) for seq, e in events]
        tx.executemany(
            "INSERT INTO consent_register (seq, subject, discloser, recipient, at, worker, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    row.seq,
                    subject_key(row.subject_id),
                    row.discloser_org_id,
                    row.recipient_org_id,
                    micros(aware(row.at)),
                    None if row.disclosed_by is None else worker_key(row.disclosed_by),
                    self.codec.encode(state_dict(row)),
                )
                for row in rows
            ],
        )


def _id_of(record: Record) -> str:
    if isinstance(record, ConsentState):
        return record.consent_id
    if isinstance(record, RestrictionState):
        return record.restriction_id
    return record.refusal_id


def _recorded(e: Any) -> Record:
    common = {
        "version": e.originator_version,
        "subject_id": e.subject_id,
        "recorded_at": e.recorded_at,
        "recorded_by_org": e.recorded_by_org,
    }
    if isinstance(e, Consent.Recorded):
        return ConsentState(
            consent_id=str(e.originator_id),
            subject_birth_date=e.subject_birth_date,
            grantor_role=e.grantor_role,
            grantor_mandate_ref=e.grantor_mandate_ref,
            grantor_scope=None if e.grantor_scope is None else tuple(e.grantor_scope),
            method=e.method,
            purposes=tuple(e.purposes),
            recipient_org_ids=tuple(e.recipient_org_ids),
            recipient_kinds=tuple(e.recipient_kinds),
            categories=tuple(e.categories),
            valid_from=e.valid_from,
            valid_until=e.valid_until,
            discloser_org_ids=tuple(e.discloser_org_ids or ()),
            **common,
        )
    if isinstance(e, Restriction.Recorded):
        return RestrictionState(
            restriction_id=str(e.originator_id),
            recipient_org_ids=tuple(e.recipient_org_ids),
            recipient_kinds=tuple(e.recipient_kinds),
            purposes=tuple(e.purposes),
            categories=tuple(e.categories),
            valid_from=e.valid_from,
            **common,
        )
    return RefusalState(
        refusal_id=str(e.originator_id),
        requester_roles=tuple(e.requester_roles),
        given_at=e.given_at,
        document_ref=e.document_ref,
        **common,
    )


def _register_row(e: Any, seq: int) -> RegisterRow:
    return RegisterRow(
        seq=seq,
        register_entry_id=str(e.originator_id),
        decision_id=str(e.decision_id),
        at=e.at,
        subject_id=e.subject_id,
        discloser_org_id=e.discloser_org_id,
        recipient_org_id=e.recipient_org_id,
        categories=tuple(e.categories),
        purpose=e.purpose,
        bases=tuple(e.bases),
        obligations=tuple(e.obligations),
        regime=e.regime,
        justification=e.justification,
        reference=e.reference,
        disclosed_by=e.disclosed_by,
        regime_superseded=e.regime_superseded,
        conditions=dict(e.conditions),
    )


class ReadModel:
    """Everything decisions and queries read, from the consent view's tables; each read first applies what was
    recorded since (so a decision always sees every withdrawal committed before it)."""

    def __init__(self, facts: Projector, register: Projector, codec: StateCodec) -> None:
        self.projector = facts
        self.register_projector = register
        self.codec = codec

    def _records(self, cls: type[T], sql: str, params: Sequence[Any], projector: Projector | None = None) -> list[T]:
        with (projector or self.projector).reading() as tx:
            return [from_state(cls, self.codec.decode(row[0])) for row in tx.execute(sql, params)]

    def _one(self, cls: type[T], kind: str, key: str) -> T | None:
        found = self._records(cls, "SELECT state FROM consent_records WHERE id = ? AND kind = ?", (key, kind))
        return found[0] if found else None

    def _of(self, cls: type[T], kind: str, subject_id: str) -> list[T]:
        sql = "SELECT state FROM consent_records WHERE subject = ? AND kind = ? ORDER BY seq"
        return self._records(cls, sql, (subject_key(subject_id), kind))

    def consent(self, consent_id: str) -> ConsentState | None:
        return self._one(ConsentState, "consent", consent_id)

    def consents_of(self, subject_id: str) -> list[ConsentState]:
        return self._of(ConsentState, "consent", subject_id)

    def restriction(self, restriction_id: str) -> RestrictionState | None:
        return self._one(RestrictionState, "restriction", restriction_id)

    def restrictions_of(self, subject_id: str) -> list[RestrictionState]:
        return self._of(RestrictionState, "restriction", subject_id)

    def refusal(self, refusal_id: str) -> RefusalState | None:
        return self._one(RefusalState, "refusal", refusal_id)

    def refusals_of(self, subject_id: str) -> list[RefusalState]:
        return self._of(RefusalState, "refusal", subject_id)

    def records_on_file(self, subject_id: str, holder: str) -> int:
        """How many consents, restrictions and refusals `holder` has on file about the person, whatever their state."""
        sql = "SELECT COUNT(*) FROM consent_records WHERE subject = ? AND holder = ?"
        return int(self.projector.read(sql, (subject_key(subject_id), holder))[0][0])

    def holders(self, record_ids: Sequence[str]) -> dict[str, str]:
        """The organisation holding (having recorded) each of these consents, restrictions or refusals."""
        if not record_ids:
            return {}
        marks = ", ".join("?" for _ in record_ids)
        sql = f"SELECT kind, state FROM consent_records WHERE id IN ({marks})"  # noqa: S608 (placeholders)
        with self.projector.reading() as tx:
            found = [from_state(KINDS[kind], self.codec.decode(state)) for kind, state in tx.execute(sql, record_ids)]
        return {_id_of(record): record.recorded_by_org for record in found}

    def observations(self) -> int:
        """How many upstream organisation and agreement events were applied (tests and /readyz use it)."""
        with self.projector.reading() as tx:
            rows = tx.execute(
                "SELECT (SELECT COUNT(*) FROM consent_org_kinds) + (SELECT COUNT(*) FROM consent_agreements)"
            )
        return int(rows[0][0])

    def org_kind_at(self, org_id: str, at: datetime) -> OrgKind | None:
        with self.projector.reading() as tx:
            return _org_kind_at(tx, org_id, at)

    def agreements_between(self, one: str, other: str, at: datetime) -> list[AgreementFact]:
        """Agreements linking both organisations in the state in force at `at` (none if not yet drafted then)."""
        with self.projector.reading() as tx:
            return self._agreements_between(tx, one, other, at)

    def facts_for(self, request: DecisionInput, birth_date: date | None = None, preview: bool = False) -> Facts:
        """What the engine may know when deciding `request`: everything committed before this call, read in one
        statement. The decision's parties read its facts, so they hold nothing of the person's ties to others, and
        the records read are only those its parties hold (at most twice a person's bound, whoever else holds more):
        - consents: those authorising the discloser to communicate: held by the discloser, or held by the recipient
          and naming the discloser among its disclosers (from 2026-12-03: a consent the recipient gathered that names
          no discloser authorises nobody else, and is not another organisation's to learn of; never a third
          organisation's), and only those naming this recipient (the others cannot support the disclosure);
        - restrictions (LRSSS ss. 7-8): those the discloser holds, lodged with it to restrict access to its record
          (another organisation's restriction binds its own record), only those concerning this recipient (the others
          cannot bar the disclosure); one naming kinds of recipient concerns a recipient whose kind is unknown;
        - written refusals (art. 23): those the discloser holds, the establishment asked to disclose from its record
          (another organisation's refusal is about its own record, and not the parties' to read);
        - the parties' kinds and their agreements at `at`; for a disclosure, also when it is recorded (`disclosed_at`,
          up to a few minutes later, when the information leaves): a kind that changed in between is not known
          (`_throughout`), and the agreements' states then are `agreements_when_disclosed` (an agreement terminated in
          between no longer carries it).
        A `preview` (a decision another organisation than the discloser asks for itself: `previews`) reads none of
        the discloser's records, which are not its to read: only the consents the recipient holds, no restriction,
        no refusal.
        Of the organisations a consent or a restriction names, only the parties stay (`ConsentFact.between`,
        `RestrictionFact.toward`). The person's age comes from `birth_date` (given with the request) or else the
        latest consent read; only age bands leave this method."""
        at, one, other = request.at, request.discloser_org_id, request.recipient_org_id
        holders = (other, other) if preview else (one, other)  # whose records the decision reads
        read = set(holders) - {one} if preview else set(holders)  # none of the discloser's, even as recipient too
        when = micros(aware(at))
        then = micros(aware(request.disclosed_at or at))  # a disclosure is judged when it is recorded too
        # the agreements are read up to the later moment: `at` may be a little ahead of the recording (CLOCK_SKEW)
        kinds_at = (one, when, one, then, other, when, other, then)
        rows = self.projector.read(
            "SELECT 'record', kind, 0, seq, state FROM consent_records "  # noqa: S608 (constants)
            "WHERE subject = ? AND holder IN (?, ?) "
            f"UNION ALL SELECT 'discloser', kind, 0, 0, NULL FROM ({ORG_KIND_AT}) d "
            f"UNION ALL SELECT 'discloser', kind, 1, 0, NULL FROM ({ORG_KIND_AT}) dd "
            f"UNION ALL SELECT 'recipient', kind, 0, 0, NULL FROM ({ORG_KIND_AT}) r "
            f"UNION ALL SELECT 'recipient', kind, 1, 0, NULL FROM ({ORG_KIND_AT}) rd "
            f"UNION ALL SELECT 'agreement', agreement_id, occurred_at, seq, state FROM ({AGREEMENTS_BETWEEN}) a",
            (subject_key(request.subject_id), *holders, *kinds_at, one, other, max(when, then)),
        )
        records: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        kinds: dict[str, list[OrgKind]] = {"discloser": [], "recipient": []}
        agreements: list[tuple[str, int, bytes]] = []
        for tag, key, moment, _seq, state in sorted(rows, key=lambda row: (row[0], row[2], row[3])):
            if tag == "record":
                record = from_state(KINDS[key], self.codec.decode(state))
                if record.recorded_by_org in read:
                    records[key].append(record)
            elif tag == "agreement":
                agreements.append((key, moment, state))
            else:
                kinds[tag].append(OrgKind(key))
        consents = [c for c in records["consent"] if c.authorises(one)]
        recipient = _throughout(kinds["recipient"])
        born: date | None = birth_date
        age_from = None if born is None else AGE_FROM_REQUEST  # the source: who may read the bands depends on it
        if born is None and consents:
            born, age_from = consents[-1].subject_birth_date, consents[-1].consent_id
        deceased_on = request.context.subject_deceased_on
        return Facts(
            recipient_kind=recipient,
            consents=tuple(f.between(one, other) for f in (c.fact(at) for c in consents) if f.covers(other, recipient)),
            agreements=self._agreements_until(agreements, when, one, other),
            agreements_when_disclosed=(
                () if request.disclosed_at is None else self._agreements_until(agreements, then, one, other)
            ),
            restrictions=tuple(
                f
                for r in records["restriction"]
                if r.recorded_by_org == one and (f := r.fact().toward(other, recipient)) is not None
            ),
            discloser_kind=_throughout(kinds["discloser"]),
            subject_age_band=None if born is None else age_band(born, at),
            subject_age_band_at_death=(
                None if born is None or deceased_on is None else age_band(born, start_of_local_day(deceased_on))
            ),
            refusals=tuple(r.fact() for r in records["refusal"] if r.recorded_by_org == one),
            subject_age_from=age_from,
        )

    def _agreements_until(
        self, states: list[tuple[str, int, bytes]], until: int, one: str, other: str
    ) -> tuple[AgreementFact, ...]:
        """The agreements linking both organisations in the state in force at `until` (microseconds), from `states`
        (key, moment, state) in the order they occurred."""
        return tuple(self._in_force([(key, state) for key, moment, state in states if moment <= until], one, other))

    def _agreements_between(self, tx: Tx, one: str, other: str, at: datetime) -> list[AgreementFact]:
        rows = tx.execute(AGREEMENTS_BETWEEN, (one, other, micros(aware(at))))
        return self._in_force([(key, state) for key, _at, _seq, state in rows], one, other)

    def _in_force(self, states: list[tuple[str, bytes]], one: str, other: str) -> list[AgreementFact]:
        """The state in force of each agreement linking both organisations, from their states up to a moment (in
        the order they occurred)."""
        in_force = dict(states)  # the last state of each
        facts = [agreement_fact(self.codec.decode(in_force[key])) for key in sorted(in_force)]
        return [f for f in facts if one in f.parties and other in f.parties]

    def register(self, query: RegisterQuery) -> tuple[list[RegisterRow], int | None]:
        """Entries matching `query` after the cursor `query.after`; the next cursor when more remain."""
        conditions, params = ["seq > ?"], list[Any]([query.after])
        for sql, value in (
            ("subject = ?", None if query.subject_id is None else subject_key(query.subject_id)),
            ("discloser = ?", query.discloser_org_id),
            ("recipient = ?", query.recipient_org_id),
            ("worker = ?", None if query.disclosed_by is None else worker_key(query.disclosed_by)),
            ("at >= ?", None if query.from_ is None else micros(aware(query.from_))),
            ("at < ?", None if query.to is None else micros(aware(query.to))),
        ):
            if value is not None:
                conditions.append(sql)
                params.append(value)
        sql = f"SELECT state FROM consent_register WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"  # noqa: S608
        found = self._records(RegisterRow, sql, [*params, query.limit + 1], self.register_projector)
        if len(found) > query.limit:
            return found[: query.limit], found[query.limit - 1].seq
        return found, None


def _throughout(kinds: list[OrgKind]) -> OrgKind | None:
    """An organisation's kind when the directory gave the same one at the decision's `at` and when a disclosure is
    recorded (for a decision, both are `at`): one that changed in between is not the kind the disclosure was made
    under at both moments, so it is not known (default deny, as for a kind never registered)."""
    return kinds[0] if len(kinds) == 2 and kinds[0] == kinds[1] else None


def _org_kind_at(tx: Tx, org_id: str, at: datetime) -> OrgKind | None:
    """The kind in force at `at`: the last one observed at or before it."""
    row = tx.one(ORG_KIND_AT, (org_id, micros(aware(at))))
    return None if row is None else OrgKind(row[0])


def decision_tally() -> EventTally:
    """Disclosure decisions counted by outcome and legal route (the `rls_consent_decisions` metric)."""
    return EventTally("consent_decision_tally", {DecisionRecord.Made: decision_labels})


def decision_labels(made: DecisionRecord.Made) -> list[Labels]:
    """A decision counts once under its outcome for each legal route it rests on (`none`: no route released)."""
    routes = sorted({str(basis["route"]) for basis in made.result.get("basis", [])}) or ["none"]
    return [(str(made.result.get("outcome")), route) for route in routes]
