"""Errors of the agreements domain; the API maps each one to a status and a problem type."""

from __future__ import annotations


class AgreementsError(Exception):
    """Base of the agreements domain's errors."""

    field: str | None = None


class OrganisationNotFoundError(AgreementsError):
    """No organisation with this id."""


class OrganisationExistsError(AgreementsError):
    """An organisation with this id is already registered."""


class AgreementNotFoundError(AgreementsError):
    """No agreement with this id (or no such version of its terms)."""


class AgreementInvalidError(AgreementsError):
    """The agreement breaks a rule of its kind (named by `field`); nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AgreementTransitionError(AgreementsError):
    """The agreement's status does not allow this change (signing twice, resuming an active agreement, …)."""


class AgreementNotPartyError(AgreementsError):
    """The caller's organisation is not a party to the agreement."""


class AgreementRevisionConflictError(AgreementsError):
    """`If-Match` named a revision that is not the agreement's current one."""


class AgreementIdempotencyConflictError(AgreementsError):
    """An Idempotency-Key was reused with a different agreement."""
