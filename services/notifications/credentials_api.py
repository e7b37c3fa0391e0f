"""Kafka credentials of establishments (v1): issued, rotated and revoked by each organisation's administrator."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import Principal, require_roles
from services.common.problems import ProblemError, ProblemSpec
from services.contract.codes import ORG_ID_PATTERN
from services.notifications.credentials import (
    CredentialsIssuer,
    IssuedCredentials,
    KafkaCredentialsBrokerError,
    KafkaCredentialsNotFoundError,
    KafkaCredentialsUnavailableError,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["kafka-credentials"])

CREDENTIALS_ERRORS: dict[type[Exception], ProblemSpec] = {
    KafkaCredentialsUnavailableError: ProblemSpec(409, "kafka-credentials-unavailable", "No Kafka credentials here"),
    KafkaCredentialsNotFoundError: ProblemSpec(404, "kafka-credentials-not-found", "No such Kafka credentials"),
    KafkaCredentialsBrokerError: ProblemSpec(503, "kafka-unavailable", "Kafka did not make the change"),
}


class KafkaCredentialsCreate(BaseModel):
    """Whose credentials: the caller's own organisation."""

    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ORG_ID_PATTERN, description="The caller's organisation")


class KafkaCredentialsPublic(BaseModel):
    """Client settings for the organisation's Kafka user. The password is shown in this answer only."""

    username: str = Field(description="SASL username (`org-<org_id>`)")
    password: str = Field(description="SASL password, shown once; issuing again rotates it")
    bootstrap: str = Field(description="bootstrap.servers")
    security_protocol: str = Field(description="security.protocol (`SASL_SSL`)")
    sasl_mechanism: str = Field(description="sasl.mechanism (`SCRAM-SHA-512`)")
    ca_pem: str | None = Field(None, description="The CA certificate (PEM) to trust for the brokers' TLS")
    topic: str = Field(description="The organisation's topic, `rls.org.<org_id>.referrals.v1`")
    topic_prefix: str = Field(description="Every topic whose name starts with this is readable")
    group_prefix: str = Field(description="Consumer groups must be named with this prefix")

    @classmethod
    def of(cls, issued: IssuedCredentials) -> KafkaCredentialsPublic:
        return cls(
            username=issued.username,
            password=issued.password.get_secret_value(),
            bootstrap=issued.bootstrap,
            security_protocol=issued.security_protocol,
            sasl_mechanism=issued.sasl_mechanism,
            ca_pem=issued.ca_pem,
            topic=issued.topic,
            topic_prefix=issued.topic_prefix,
            group_prefix=issued.group_prefix,
        )


def get_issuer(request: Request) -> CredentialsIssuer:
    issuer: CredentialsIssuer = request.app.state.credentials_issuer
    return issuer


Issuer = Annotated[CredentialsIssuer, Depends(get_issuer)]
OrgAdmin = Annotated[Principal, Depends(require_roles("admin"))]
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the caller's organisation, or not its administrator"}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The broker authenticates nobody (development platform): no credentials to issue"},
    503: {"description": "Kafka could not be reached or refused the change"},
}


def own_credentials(principal: Principal, org_id: str | None) -> str:
    if org_id != principal.org:
        raise ProblemError(403, "forbidden", "Forbidden", "an organisation manages only its own Kafka credentials")
    return org_id


@router.post(
    "/kafka-credentials",
    status_code=201,
    response_model=KafkaCredentialsPublic,
    response_model_exclude_none=True,
    responses={**FORBIDDEN, **UNAVAILABLE},
)
def issue_credentials(
    body: KafkaCredentialsCreate, response: Response, principal: OrgAdmin, issuer: Issuer
) -> KafkaCredentialsPublic:
    """Create the organisation's Kafka user, or rotate its password (the old one stops working, nothing restarts):
    it reads only `rls.org.<org_id>.*` in consumer groups `rls.org.<org_id>.*`."""
    org_id = own_credentials(principal, body.org_id)
    issued = issuer.issue(org_id)
    log.info("Kafka credentials of %s issued by %s of %s", issued.username, principal.sub, principal.org)
    response.headers["Cache-Control"] = "no-store"
    return KafkaCredentialsPublic.of(issued)


@router.delete(
    "/kafka-credentials/{username}",
    status_code=204,
    responses={**FORBIDDEN, **UNAVAILABLE, 404: {"description": "The organisation has no Kafka credentials"}},
)
def revoke_credentials(
    username: Annotated[str, Path(max_length=100, description="`org-<org_id>` of the caller's organisation")],
    principal: OrgAdmin,
    issuer: Issuer,
) -> Response:
    """Revoke the organisation's Kafka user: its password and every ACL it had are removed."""
    org_id = own_credentials(principal, issuer.organisation_of(username))
    issuer.revoke(org_id)
    log.info("Kafka credentials of %s revoked by %s of %s", username, principal.sub, principal.org)
    return Response(status_code=204)
