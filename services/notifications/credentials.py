"""Kafka credentials for establishments: one SCRAM user per organisation, reading only its own topics.

Issuing creates the user `org-<org_id>` or gives it a new password (rotation: the old one stops working at once
for new connections and at the next re-authentication for live ones; nothing restarts), and makes its ACLs exactly
those of the `[organisation]` template of `deploy/kafka/acls.toml`. Revoking removes the user and its ACLs.
The issuer connects as its own principal, used for nothing else. Passwords are returned once, never stored here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka.errors import KafkaError
from pydantic import SecretStr

from services.common.kafka import make_admin
from services.common.kafka_acls import AclFile, KafkaUserAdminError, KafkaUsers, Principal
from services.common.kafka_security import KafkaAccess
from services.contract.topics import org_referrals
from services.notifications.domain import (
    KafkaCredentialsBrokerError,
    KafkaCredentialsNotFoundError,
    KafkaCredentialsUnavailableError,
)


@dataclass(frozen=True)
class IssuedCredentials:
    """What an establishment's Kafka client needs; the password exists only in this answer."""

    org_id: str
    username: str
    password: SecretStr
    bootstrap: str
    security_protocol: str
    sasl_mechanism: str
    ca_pem: str | None
    topic: str
    topic_prefix: str
    group_prefix: str


@dataclass(frozen=True)
class ClientEndpoint:
    """Where establishments connect (may differ from the services' own bootstrap) and the CA they trust."""

    bootstrap: str
    ca_pem: str | None


class CredentialsIssuer:
    """Issues, rotates and revokes establishments' Kafka users through the issuer principal."""

    def __init__(self, issuer: KafkaAccess | None, acls: AclFile, endpoint: ClientEndpoint) -> None:
        self._issuer = issuer
        self._acls = acls
        self._endpoint = endpoint

    def username_of(self, org_id: str) -> str:
        return self._acls.for_organisation(org_id).username

    def organisation_of(self, username: str) -> str | None:
        return self._acls.organisation_of(username)

    def issue(self, org_id: str) -> IssuedCredentials:
        """Creates the organisation's user, or rotates its password; its ACLs are made exactly the template's."""
        principal = self._acls.for_organisation(org_id)
        password = secrets.token_urlsafe(32)
        with self._users() as users:  # ACLs first: if they fail, the password in use still works
            users.sync_acls(principal)
            users.set_password(principal.username, password)
        access = self._issuer_access()
        return IssuedCredentials(
            org_id=org_id,
            username=principal.username,
            password=SecretStr(password),
            bootstrap=self._endpoint.bootstrap,
            security_protocol=access.security_protocol,
            sasl_mechanism=access.sasl_mechanism,
            ca_pem=self._endpoint.ca_pem,
            topic=org_referrals(org_id),
            topic_prefix=_prefix(principal, "topic_prefix"),
            group_prefix=_prefix(principal, "group_prefix"),
        )

    def revoke(self, org_id: str) -> None:
        """Removes the organisation's user and every ACL it had."""
        with self._users() as users:
            existed = users.delete(self._acls.for_organisation(org_id))
        if not existed:
            raise KafkaCredentialsNotFoundError("the organisation has no Kafka credentials")

    def _issuer_access(self) -> KafkaAccess:
        if self._issuer is None or not self._issuer.authenticated:
            raise KafkaCredentialsUnavailableError(
                "this platform's broker authenticates nobody (development, plaintext) or has no credentials issuer: "
                "start it with RLS_KAFKA_SECURITY=sasl_ssl"
            )
        return self._issuer

    @contextmanager
    def _users(self) -> Iterator[KafkaUsers]:
        """An admin connection of the issuer for one operation (no long-lived connection holds its rights)."""
        try:
            admin = make_admin(self._issuer_access(), "notifications-credentials", timeout_ms=5_000)
        except KafkaError as error:
            raise KafkaCredentialsBrokerError(f"the broker did not answer ({type(error).__name__})") from None
        try:
            yield KafkaUsers(admin)
        except (KafkaError, KafkaUserAdminError) as error:
            raise KafkaCredentialsBrokerError(f"the broker refused the change ({type(error).__name__})") from None
        finally:
            admin.close()


def _prefix(principal: Principal, resource: str) -> str:
    return next(grant.name for grant in principal.grants if grant.resource == resource)
