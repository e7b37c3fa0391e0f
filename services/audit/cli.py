"""`rls audit …`: the auditors' commands (progress on stderr, results on stdout; every query is recorded)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from services.audit.application import Auditor, AuditQueries, parse_moment, parse_period
from services.audit.domain import (
    Channel,
    ConsentUnavailableError,
    MomentError,
    PeriodError,
    UnknownServiceError,
    WhatIfRegimeError,
)
from services.audit.main import StoreSources, build_queries, consent_client, no_other_stores
from services.audit.recheck import ConsentEvaluator
from services.audit.report import to_csv, to_json
from services.audit.report_html import to_html
from services.audit.settings import AuditSettings
from services.audit.sources import replay_stores
from services.common.auth import NETWORK_AUDITOR, load_dev_key, mint_dev_token

audit_cli = typer.Typer(
    help="Auditors: replay the history, states as of a date, integrity, decision rechecks, compliance reports",
    no_args_is_help=True,
)
decisions_cli = typer.Typer(help="Recorded consent decisions", no_args_is_help=True)
audit_cli.add_typer(decisions_cli, name="decisions")

err = Console(stderr=True)
AuditorOption = Annotated[str | None, typer.Option("--auditor", help="who is asking (recorded; default: OS user)")]
OrgOption = Annotated[str, typer.Option("--org", help="the auditor's organisation (recorded)")]


class StateKind(StrEnum):
    referral = "referral"
    agreement = "agreement"
    consent = "consent"


class ReportFormat(StrEnum):
    html = "html"
    csv = "csv"
    json = "json"


class ReportLanguage(StrEnum):
    fr = "fr"
    en = "en"


class Regime(StrEnum):
    LSSSS_17_27_3 = "LSSSS_17_27_3"
    LRSSS = "LRSSS"


class RichProgress:
    """A rich progress bar fed by replays, verifications and rechecks."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self._label = label
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        self._task = self._progress.add_task(self._label, total=total or None)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def _stores(ctx: typer.Context) -> StoreSources:
    """The platform's event stores, which the composition root (`services/cli.py`) puts on the context."""
    given = ctx.find_root().obj
    return given if callable(given) else no_other_stores


@contextmanager
def _queries(stores: StoreSources = no_other_stores) -> Iterator[AuditQueries]:
    settings = AuditSettings()
    queries = build_queries(settings, stores=stores)
    try:
        yield queries
    finally:
        queries.audit.close()


def _who(auditor: str | None, org: str) -> Auditor:
    return Auditor(auditor or getpass.getuser(), org, Channel.CLI)


def _moment(queries: AuditQueries, text: str, end_of_day: bool) -> Any:
    try:
        return parse_moment(text, queries.settings.timezone, end_of_day=end_of_day)
    except MomentError as error:
        raise typer.BadParameter(str(error)) from None


@audit_cli.command()
def replay(
    ctx: typer.Context,
    until: Annotated[
        str | None, typer.Option(help="leave out what happened after this date (YYYY-MM-DD, included)")
    ] = None,
    from_stores: Annotated[
        bool, typer.Option(help="also map the services' event stores (adds what is not relayed)")
    ] = False,
    kafka: Annotated[bool, typer.Option(help="read the Kafka topics from offset 0")] = True,
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Rebuild the audit database from the history (Kafka topics from offset 0; the event stores when asked)."""
    with _queries(_stores(ctx)) as queries:
        moment = _moment(queries, until, True) if until else None
        who = _who(auditor, org)
        results = []
        with _bar() as bar:
            if kafka:
                results.append(queries.replay(who, moment, RichProgress(bar, "topics")))
            else:
                queries.history.clear()
            if from_stores:
                stats = replay_stores(queries.stores, queries.history, moment, RichProgress(bar, "stores"))
                results.append(stats)
                queries.note_replay(stats, moment)
        for stats in results:
            complete = "" if stats.complete else " (INCOMPLETE: the broker stopped answering)"
            if stats.skipped:
                complete += f" (no store found for: {', '.join(stats.skipped)})"
            typer.echo(
                f"replayed {stats.read} records from {stats.source} in {stats.seconds:.1f} s: "
                f"{stats.rate:,.0f} events/s; {stats.stored} stored, {stats.rejected} rejected, "
                f"{stats.after_until} after --until{complete}"
            )
        typer.echo(f"audit database: {queries.history.count()} events")


@audit_cli.command()
def state(
    kind: Annotated[StateKind, typer.Argument(help="referral, agreement or consent")],
    entity_id: Annotated[str, typer.Argument(metavar="ID")],
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD (end of that day) or a date-time; default: now")] = None,
    recorded: Annotated[
        bool, typer.Option(help="as the platform had recorded it by then (published, or stored), not as it happened")
    ] = False,
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Print a referral, agreement or consent exactly as it stood at a date (JSON)."""
    with _queries() as queries:
        moment = _moment(queries, as_of, True) if as_of else queries.clock()
        answer = queries.state(
            _who(auditor, org), kind.value, entity_id, moment, "recorded" if recorded else "effective"
        )
    if answer.state is None:
        typer.echo(f"no {kind.value} {entity_id} in the history by {moment.isoformat()}", err=True)
        raise typer.Exit(1)
    typer.echo(
        json.dumps({"kind": kind.value, "id": entity_id, "as_of": moment.isoformat(), "state": answer.state}, indent=2)
    )


@audit_cli.command()
def verify(
    ctx: typer.Context,
    service: Annotated[list[str] | None, typer.Option(help="only this service's store (repeatable)")] = None,
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Verify every service's event store: seals, chains and published checkpoints; name the first tampered event."""
    with _queries(_stores(ctx)) as queries, _bar() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(store: Any, count: int) -> None:
            if store.service not in tasks:
                tasks[store.service] = bar.add_task(store.service, total=None)
            bar.advance(tasks[store.service], count)

        try:
            answer = queries.verify(_who(auditor, org), service or [], progress)
        except UnknownServiceError as error:
            # the terminal's user typed the names: naming them back here discloses nothing
            named = f"no event store of {', '.join(error.unknown)}; known services: {', '.join(error.known)}"
            raise typer.BadParameter(named, param_hint="--service") from None
    failed = not answer.ok
    if answer.checkpoint_problem:
        typer.echo(f"checkpoints: FAILED — {answer.checkpoint_problem}")
    else:
        typer.echo(f"checkpoints: {answer.checkpoints} read from {queries.settings.checkpoint_topic}")
    for result in answer.stores:
        data = result.as_dict()
        if result.ok:
            typer.echo(
                f"{data['service']}: OK — {data['events']} events sealed, "
                f"{data['checkpoints_matched']} of {data['checkpoints']} checkpoints matched"
            )
        else:
            failed = True
            typer.echo(f"{data['service']}: FAILED — {data['problem'] or data['first_finding']}")
            for finding in data["findings"][1:20]:
                typer.echo(f"  also {finding}")
        for note in data["notes"]:
            typer.echo(f"  note: {note}")
    raise typer.Exit(1 if failed else 0)


def _token(settings: AuditSettings, who: Auditor, token: str | None) -> str:
    if token:
        return token
    if settings.consent_token is not None:
        return settings.consent_token.get_secret_value()
    if settings.mode != "dev":
        raise typer.BadParameter("--token (or AUDIT_CONSENT_TOKEN) is required outside dev mode")
    key = load_dev_key(settings.signing_key_file)
    return mint_dev_token(key, who.org, [NETWORK_AUDITOR], who.sub, settings.jwt_audience, timedelta(hours=1))


@decisions_cli.command("recheck")
def recheck(
    regime: Annotated[Regime | None, typer.Option(help="what-if: re-evaluate under this regime instead")] = None,
    regime_version: Annotated[str | None, typer.Option(help="the what-if rule table version")] = None,
    token: Annotated[str | None, typer.Option(help="an auditor's bearer token for the consent service")] = None,
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Re-evaluate every recorded consent decision under the regime version it recorded; list those that differ."""
    with _queries() as queries:
        who = _who(auditor, org)
        with consent_client(queries.settings, _token(queries.settings, who, token)) as client, _bar() as bar:
            task = bar.add_task("decisions", total=None)
            try:
                result = queries.recheck(
                    who,
                    ConsentEvaluator(client),
                    None if regime is None else regime.value,
                    regime_version,
                    progress=lambda n: bar.advance(task, n),
                    on_total=lambda total: bar.update(task, total=total),
                )
            except (WhatIfRegimeError, ConsentUnavailableError) as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
    typer.echo(json.dumps(result.as_dict(), indent=2))
    typer.echo(
        f"{result.checked} decisions re-evaluated; {len(result.differing)} "
        + ("would come out differently" if regime else "came out differently"),
        err=True,
    )
    raise typer.Exit(1 if result.differing and regime is None else 0)


@audit_cli.command()
def report(
    from_: Annotated[
        str | None, typer.Option("--from", help="first day (YYYY-MM-DD); default: 30 days before --to")
    ] = None,
    to: Annotated[str | None, typer.Option(help="last day, included (YYYY-MM-DD); default: now")] = None,
    format: Annotated[ReportFormat, typer.Option(help="html, csv or json")] = ReportFormat.html,
    output: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
    lang: Annotated[ReportLanguage, typer.Option(help="language of the HTML report: fr (default) or en")] = (
        ReportLanguage.fr
    ),
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Compliance report: delay standards, breaches over time, disclosures, volumes, overdue reviews."""
    with _queries() as queries:
        try:
            start, end = parse_period(from_, to, queries.settings.timezone, queries.clock())
        except PeriodError as error:
            raise typer.BadParameter(str(error), param_hint="--from" if error.bound == "start" else "--to") from None
        built = queries.report(_who(auditor, org), start, end, format.value)
    if format is ReportFormat.html:
        text = to_html(built, lang.value)
    elif format is ReportFormat.csv:
        text = to_csv(built)
    else:
        text = json.dumps(to_json(built), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"report written to {output}", err=True)


@audit_cli.command()
def trail(
    cursor: Annotated[int, typer.Option(help="after this position")] = 0,
    limit: Annotated[int, typer.Option(help="how many")] = 100,
    auditor: AuditorOption = None,
    org: OrgOption = "audit",
) -> None:
    """Print the audit trail: who looked at what, when (one JSON document per line; the next page's cursor on
    stderr)."""
    with _queries() as queries:
        page = queries.trail(_who(auditor, org), cursor, limit)
    for entry in page.entries:
        typer.echo(json.dumps({**entry.__dict__, "at": entry.at.isoformat()}))
    if page.next_cursor is not None:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)
