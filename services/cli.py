"""`rls`: run the platform, a service, a relay; mint dev tokens; read topics; export the contract."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import timedelta
from typing import Annotated

import typer

from services.audit.cli import audit_cli
from services.common.auth import load_dev_key, mint_dev_token
from services.common.envelope import CloudEvent, EnvelopeError
from services.deploy.cli import deploy_cli
from services.runtime import launcher, schemas, serving
from services.runtime.registry import PROCESSES, SERVICES, event_stores
from services.runtime.registry import service as registry_service
from services.runtime.serving import configure_logging
from services.runtime.settings import RuntimeSettings

cli = typer.Typer(help="RLS Referrals platform", no_args_is_help=True, add_completion=False)
schemas_cli = typer.Typer(help="The public contract under schemas/", no_args_is_help=True)
topic_cli = typer.Typer(help="Read Kafka topics", no_args_is_help=True)
org_cli = typer.Typer(help="An organisation's access to the platform", no_args_is_help=True)
projections_cli = typer.Typer(
    help="The services' read models (projections in their own databases)", no_args_is_help=True
)
cli.add_typer(schemas_cli, name="schemas")
cli.add_typer(topic_cli, name="topic")
cli.add_typer(org_cli, name="org")
cli.add_typer(projections_cli, name="projections")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(deploy_cli, name="deploy")


@cli.callback()
def platform(ctx: typer.Context) -> None:
    """RLS Referrals platform"""
    ctx.obj = event_stores  # the audit commands read every service's store from the registry


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


@cli.command()
def run() -> None:
    """Start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), the five services and the demo network."""
    configure_logging("WARNING")
    try:
        launcher.run(RuntimeSettings(), say=lambda line: typer.echo(line))
    except launcher.LaunchError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def stop() -> None:
    """Stop the platform started by `rls run` (same as Ctrl-C in its terminal)."""
    if launcher.stop_running(RuntimeSettings()):
        typer.echo("stopped")
    else:
        typer.echo("the platform was not running")


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help=", ".join(PROCESSES))],
    workers: Annotated[
        int, typer.Option(min=1, help="processes answering on the service's port, sharing its store")
    ] = 1,
) -> None:
    """Run one service (its API, relay and consumers) or the console in the foreground."""
    try:
        serving.serve(service, workers)
    except serving.ServeError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def relay(
    service: Annotated[str, typer.Argument(help="referral, agreements, consent, notifications or audit")],
) -> None:
    """Run only a service's relay: what publishes its store (outbox to Kafka, or webhook and topic deliveries) and
    its integrity checkpoints; the API may run elsewhere with its relay disabled."""
    from services.common.service import run_relay

    definition = registry_service(service) if service in SERVICES else None
    if definition is None or definition.relay is None:
        typer.echo(f"no relay for {service!r}; one of {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    configure_logging()
    run_relay(definition, _stop_on_signals())


@projections_cli.command("rebuild")
def projections_rebuild(service: Annotated[str, typer.Argument(help=", ".join(SERVICES))]) -> None:
    """Rebuild a service's read models from its first event (a running service reads the rows rebuilt so far)."""
    from rich.progress import Progress, TaskID

    definition = registry_service(service) if service in SERVICES else None
    if definition is None or definition.application is None:
        typer.echo(f"no read models for {service!r}; one of {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    application = definition.application(definition.settings())
    try:
        with Progress() as progress:
            for projector in application.projectors:
                task = progress.add_task(projector.projection.name, total=None)

                def advance(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                applied = projector.rebuild(advance)
                progress.update(task, completed=1, total=1)
                progress.console.print(f"{projector.projection.name}: {applied} events applied")
    finally:
        application.close()


@cli.command()
def token(
    org: Annotated[str, typer.Option(help="organisation id (claim org)")],
    roles: Annotated[str, typer.Option(help="comma-separated roles")] = "intake",
    sub: Annotated[str, typer.Option(help="user id (claim sub)")] = "dev-user",
    hours: Annotated[int, typer.Option(help="validity")] = 12,
) -> None:
    """Print a signed dev JWT (dev mode only)."""
    settings = RuntimeSettings()
    if settings.mode != "dev":
        typer.echo("dev tokens exist only in dev mode", err=True)
        raise typer.Exit(2)
    key = load_dev_key(settings.signing_key_file)
    typer.echo(
        mint_dev_token(key, org, [r for r in roles.split(",") if r], sub, settings.jwt_audience, timedelta(hours=hours))
    )


@cli.command()
def info() -> None:
    """Print what the running platform is made of (JSON)."""
    path = launcher.platform_file(RuntimeSettings())
    if not path.exists():
        typer.echo('{"error": "the platform is not running (make run)"}')
        raise typer.Exit(1)
    typer.echo(path.read_text())


@topic_cli.command("tail")
def tail(
    topic: str,
    max_events: Annotated[int, typer.Option("--max", help="stop after this many events (0: never)")] = 0,
    timeout: Annotated[float, typer.Option(help="stop after this many seconds without (0: never)")] = 0,
    from_beginning: Annotated[bool, typer.Option(help="read from the first offset")] = True,
) -> None:
    """Print the CloudEvents of a topic, one JSON document per line."""
    from kafka import KafkaConsumer
    from kafka.errors import TopicAuthorizationFailedError

    from services.common.kafka import make_admin
    from services.common.kafka_security import check_readable

    settings = RuntimeSettings()
    if settings.kafka_access.authenticated:  # a refused topic would otherwise just look empty
        admin = make_admin(settings.kafka_access, "rls-topic-tail")
        try:
            check_readable(admin, topic)
        except TopicAuthorizationFailedError:
            typer.echo(f"error: {settings.kafka_sasl_username} may not read {topic}", err=True)
            raise typer.Exit(1) from None
        finally:
            admin.close()
    consumer = KafkaConsumer(
        topic,
        **settings.kafka_access.client_config(),
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        consumer_timeout_ms=500,
    )
    stop_flag, seen, last = _stop_on_signals(), 0, time.monotonic()
    try:
        while not stop_flag.is_set():
            for record in consumer:
                try:
                    typer.echo(CloudEvent.from_kafka(record.headers, record.value).model_dump_json(exclude_none=True))
                except EnvelopeError as error:
                    typer.echo(json.dumps({"offset": record.offset, "error": str(error)}))
                seen, last = seen + 1, time.monotonic()
                if max_events and seen >= max_events:
                    return
            if timeout and time.monotonic() - last > timeout:
                return
    finally:
        consumer.close()


@org_cli.command("credentials")
def org_credentials(
    org_id: str,
    revoke: Annotated[bool, typer.Option(help="remove the organisation's Kafka user and its ACLs")] = False,
    token: Annotated[str | None, typer.Option(help="a token of the organisation's admin (minted in dev mode)")] = None,
) -> None:
    """Create or rotate an establishment's Kafka credentials (read-only, its own topics) and print its client
    settings as KAFKA_* lines; the password is shown once."""
    from services.runtime import org_credentials as credentials

    settings = RuntimeSettings()
    try:
        lines = [credentials.revoke(settings, org_id, token)] if revoke else credentials.issue(settings, org_id, token)
    except credentials.CredentialsCommandError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo("\n".join(lines))


@schemas_cli.command("export")
def schemas_export(allow_breaking: bool = False) -> None:
    """Regenerate schemas/ from the code (refuses breaking event schema changes)."""
    problems = schemas.export(allow_breaking=allow_breaking)
    for problem in problems:
        typer.echo(f"breaking: {problem}", err=True)
    raise typer.Exit(1 if problems else 0)


@schemas_cli.command("check")
def schemas_check() -> None:
    """Fail when schemas/ is stale or an event schema change is not backward compatible."""
    problems = schemas.check()
    for problem in problems:
        typer.echo(problem, err=True)
    raise typer.Exit(1 if problems else 0)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
