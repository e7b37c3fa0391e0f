"""`rls deploy …`: render the deploy files, make the Compose secrets, set up Kafka (Compose's one-shot job), print
an establishment's KafkaUser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

deploy_cli = typer.Typer(help="The platform as an operator deploys it (deploy/)", no_args_is_help=True)


@deploy_cli.command("render")
def render(check: Annotated[bool, typer.Option(help="only list stale files; exit 1 if any")] = False) -> None:
    """Write the generated files of deploy/ (Compose, Kubernetes base, Strimzi resources) from their sources."""
    from services.deploy import render as renderer

    paths = renderer.stale() if check else renderer.write()
    for path in paths:
        typer.echo(f"{'stale' if check else 'wrote'}: {path}")
    raise typer.Exit(1 if check and paths else 0)


@deploy_cli.command("secrets")
def make_secrets(
    directory: Annotated[Path, typer.Option("--dir", help="where Compose reads them")] = Path("deploy/compose/secrets"),
    kafka_host: Annotated[
        list[str], typer.Option(help="another name establishments reach the broker by (in its certificate)")
    ] = [],  # noqa: B006 -- typer reads the default, never mutates it
) -> None:
    """Make every secret file the Compose platform mounts (kept when present)."""
    from services.deploy.secrets import BROKER_NAMES
    from services.deploy.secrets import make_secrets as make

    for ref in make(directory, (*BROKER_NAMES, *kafka_host)):
        typer.echo(
            f"to provide: {directory / ref.name / ref.key} (a token with role `service` from the identity provider)"
        )
    typer.echo(f"secrets in {directory}")


@deploy_cli.command("kafka-setup")
def kafka_setup(
    bootstrap: Annotated[str, typer.Option(help="the brokers' listener for the super user")],
    ca_file: Annotated[Path, typer.Option(help="the CA of the brokers' certificates")],
    admin_password_file: Annotated[Path, typer.Option(help="the super user's password")],
    passwords_dir: Annotated[Path, typer.Option(help="one file per principal of the ACL file, named after it")],
    acl_file: Annotated[Path | None, typer.Option(help="the ACL file (default: deploy/kafka/acls.toml)")] = None,
    admin: Annotated[str, typer.Option(help="the super user")] = "admin",
    brokers: Annotated[int, typer.Option(help="how many brokers (copies of each topic)")] = 1,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the brokers")] = 120.0,
) -> None:
    """Create the platform's topics and every principal of deploy/kafka/acls.toml with its password and ACLs."""
    from services.common.kafka_acls import ACL_FILE, load_acl_file
    from services.contract.topics import ORG_NAMESPACE
    from services.deploy import kafka_setup as setup

    acls = load_acl_file(acl_file or ACL_FILE, org_namespace=ORG_NAMESPACE)
    try:
        passwords = setup.read_passwords(acls, passwords_dir)
        user = setup.SuperUser(bootstrap, admin, admin_password_file.read_text().strip(), ca_file)
        client = setup.connect(user, timeout)
    except setup.KafkaSetupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    try:
        created = setup.set_up(client, acls, passwords, brokers)
    finally:
        client.close()
    typer.echo(f"principals: {', '.join(acls.principals)}; topics created: {', '.join(created) or 'none'}")


@deploy_cli.command("org-user")
def org_user(org_id: str) -> None:
    """Print an establishment's Strimzi KafkaUser (the ACL file's organisation template), to apply."""
    from services.deploy import strimzi
    from services.deploy.yamlio import dump

    try:
        typer.echo(dump([strimzi.organisation_user(org_id)]), nl=False)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
