"""Issuing and revoking an establishment's Kafka credentials when the broker refuses part of it. The broker is a
recording stand-in here only to make it refuse at one step (tests/security/ issues and revokes on a real SASL_SSL
broker, the second revocation's 404 included)."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from kafka.errors import NoError
from pydantic import SecretStr

from services.common.kafka_acls import load_acl_file
from services.common.kafka_security import KafkaAccess
from services.contract.topics import ORG_NAMESPACE
from services.notifications import credentials
from services.notifications.domain import KafkaCredentialsBrokerError, KafkaCredentialsNotFoundError


class RefusingAdmin:
    """Keeps passwords and ACLs; refuses creating ACLs, or deleting a credential with `deletion_error`."""

    def __init__(self) -> None:
        self.passwords: dict[str, bytes] = {}
        self.refuse_acls = False
        self.deletion_error: str | None = None

    def alter_user_scram_credentials(self, alterations: list[Any]) -> dict[str, str | None]:
        answers: dict[str, str | None] = {}
        for alteration in alterations:
            if hasattr(alteration, "salted_password"):
                self.passwords[alteration.user] = alteration.salted_password
                answers[alteration.user] = None
            else:
                answers[alteration.user] = self.deletion_error
        return answers

    def describe_acls(self, acl_filter: Any) -> tuple[list[Any], Any]:
        return [], NoError

    def create_acls(self, acls: Any) -> dict[str, list[Any]]:
        return {"failed": [("acl", "TimeoutError")] if self.refuse_acls else []}

    def delete_acls(self, filters: Any) -> list[Any]:
        return []

    def close(self) -> None:
        return None


@pytest.fixture
def admin() -> Any:
    refusing = RefusingAdmin()
    with patch.object(credentials, "make_admin", lambda *args, **kwargs: refusing):
        yield refusing


def issuer() -> credentials.CredentialsIssuer:
    access = KafkaAccess("broker:9093", "SASL_SSL", "SCRAM-SHA-512", "svc-credentials", SecretStr("p"), None)
    return credentials.CredentialsIssuer(
        access, load_acl_file(org_namespace=ORG_NAMESPACE), credentials.ClientEndpoint("broker:9094", None)
    )


def test_a_rotation_whose_acls_fail_keeps_the_password_in_use(admin: RefusingAdmin) -> None:
    """The 503 said nothing was issued, yet the working password had been replaced: the consumers lost access."""
    issued = issuer().issue("org-a")
    in_use = admin.passwords[issued.username]
    admin.refuse_acls = True
    with pytest.raises(KafkaCredentialsBrokerError):
        issuer().issue("org-a")
    assert admin.passwords[issued.username] == in_use


def test_a_revocation_the_broker_refuses_is_an_error_not_no_such_credentials(admin: RefusingAdmin) -> None:
    """It was answered 404 "no Kafka credentials", and the password stayed on the broker."""
    admin.deletion_error = "The controller is not available"
    with pytest.raises(KafkaCredentialsBrokerError):
        issuer().revoke("org-a")
    admin.deletion_error = "Attempt to delete a user credential that does not exist"
    with pytest.raises(KafkaCredentialsNotFoundError):
        issuer().revoke("org-a")
