"""The broker's principals and ACLs, read from one data file (`deploy/kafka/acls.toml`), and applied to a broker.

Applying is idempotent: a principal's SCRAM credential is set (a new salt each time: rotation and first creation
are one operation), its missing ACLs are created and its ACLs that the file no longer lists are deleted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin._users import UserScramCredentialDeletion, UserScramCredentialUpsertion
from kafka.errors import NoError

ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "acls.toml"
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLUSTER_RESOURCE = "kafka-cluster"
ORG_PLACEHOLDER = "{org_id}"
_ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
TEMPLATE_OPERATIONS: dict[str, frozenset[str]] = {
    "topic_prefix": frozenset({"READ", "DESCRIBE"}),
    "group_prefix": frozenset({"READ"}),
}
"""All an establishment may do: read its topics and consume in its groups (READ on a group implies DESCRIBE)."""
_RESOURCE_KEYS: dict[str, tuple[ResourceType, bool]] = {
    "topic": (ResourceType.TOPIC, False),
    "topic_prefix": (ResourceType.TOPIC, True),
    "group": (ResourceType.GROUP, False),
    "group_prefix": (ResourceType.GROUP, True),
    "cluster": (ResourceType.CLUSTER, False),
}

Resource = Literal["topic", "topic_prefix", "group", "group_prefix", "cluster"]


NO_SUCH_CREDENTIAL = "does not exist"
"""What the broker answers deleting a credential it does not have (RESOURCE_NOT_FOUND: "Attempt to delete a user
credential that does not exist"); kafka-python gives the message, not the code."""


class AclFileError(ValueError):
    """The ACL file does not say something the broker can apply."""


class KafkaUserAdminError(RuntimeError):
    """The broker refused a change of credentials or ACLs (the message names the user, never a password)."""


@dataclass(frozen=True)
class Grant:
    """Operations allowed on one resource: a topic or group (by exact name or prefix), or the cluster."""

    resource: Resource
    name: str
    operations: tuple[str, ...]

    def acls(self, principal: str) -> set[ACL]:
        resource_type, prefixed = _RESOURCE_KEYS[self.resource]
        pattern_type = ACLResourcePatternType.PREFIXED if prefixed else ACLResourcePatternType.LITERAL
        pattern = ResourcePattern(resource_type, self.name, pattern_type)
        return {
            ACL(principal, "*", ACLOperation[operation], ACLPermissionType.ALLOW, pattern)
            for operation in self.operations
        }


@dataclass(frozen=True)
class Principal:
    """One SCRAM user and everything it may do."""

    username: str
    about: str
    grants: tuple[Grant, ...]
    service: str | None = None

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.username}"

    def acls(self) -> set[ACL]:
        return {acl for grant in self.grants for acl in grant.acls(self.kafka_principal)}


@dataclass(frozen=True)
class AclFile:
    """The platform's principals (one per service role) and the template granted to each establishment."""

    principals: Mapping[str, Principal]
    organisation: Principal

    def for_organisation(self, org_id: str) -> Principal:
        """The template with `{org_id}` filled in."""
        if not _ORG_ID.match(org_id):
            raise AclFileError("an organisation id has only letters, digits, '-' and '_'")
        template = self.organisation
        return Principal(
            username=template.username.replace(ORG_PLACEHOLDER, org_id),
            about=template.about,
            grants=tuple(
                Grant(g.resource, g.name.replace(ORG_PLACEHOLDER, org_id), g.operations) for g in template.grants
            ),
        )

    def organisation_of(self, username: str) -> str | None:
        """The organisation whose user this is (None for any other name)."""
        before, _, after = self.organisation.username.partition(ORG_PLACEHOLDER)
        if not (username.startswith(before) and username.endswith(after)):
            return None
        org_id = username[len(before) : len(username) - len(after)]
        return org_id if _ORG_ID.match(org_id) else None


def load_acl_file(path: Path = ACL_FILE, *, org_namespace: str) -> AclFile:
    """Reads and checks the ACL file (unknown keys, resources or operations are errors, not ignored).

    `org_namespace` is the contract's `services.contract.topics.ORG_NAMESPACE` (the kernel does not import the
    contract): the template's prefixes must be exactly it, `{org_id}` standing for the organisation's id."""
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AclFileError(f"{path}: {error}") from error
    _only(document, {"principals", "organisation"}, "the file")
    principals = {name: _principal(name, entry) for name, entry in document.get("principals", {}).items()}
    if "organisation" not in document:
        raise AclFileError("the file has no [organisation] template")
    organisation = _principal(str(document["organisation"].get("username", "")), document["organisation"])
    acls = AclFile(principals, organisation)
    _check_template(acls, org_namespace)
    return acls


def _principal(name: str, entry: dict[str, Any]) -> Principal:
    where = f"principal {name!r}"
    _only(entry, {"service", "about", "acls", "username"}, where)
    if not name or any(c in name for c in " =,:"):
        raise AclFileError(f"{where}: not a usable SCRAM user name")
    grants = tuple(_grant(acl, where) for acl in entry.get("acls", []))
    if not grants:
        raise AclFileError(f"{where}: grants nothing")
    return Principal(name, str(entry.get("about", "")), grants, entry.get("service"))


def _grant(entry: dict[str, Any], where: str) -> Grant:
    resources = [key for key in _RESOURCE_KEYS if key in entry]
    _only(entry, {*_RESOURCE_KEYS, "operations"}, where)
    if len(resources) != 1:
        raise AclFileError(f"{where}: each ACL names exactly one of {', '.join(_RESOURCE_KEYS)}")
    resource: Resource = resources[0]  # type: ignore[assignment]  # one of the literal keys above
    name = CLUSTER_RESOURCE if resource == "cluster" else str(entry[resource])
    if resource == "cluster" and entry[resource] is not True:
        raise AclFileError(f"{where}: write `cluster = true`")
    if not name or name == "*" or "*" in name:
        raise AclFileError(f"{where}: wildcards are not granted; name the resource or its prefix")
    operations = tuple(str(op).upper() for op in entry.get("operations", []))
    unknown = [op for op in operations if op not in ACLOperation.__members__ or op in ("ANY", "UNKNOWN", "ALL")]
    if not operations or unknown:
        raise AclFileError(f"{where}: operations must be Kafka operations other than ALL (got {unknown or 'none'})")
    return Grant(resource, name, operations)


def _check_template(acls: AclFile, org_namespace: str) -> None:
    template = acls.organisation
    if ORG_PLACEHOLDER not in template.username:
        raise AclFileError(f"[organisation] username must contain {ORG_PLACEHOLDER}")
    taken = sorted(name for name in acls.principals if acls.organisation_of(name) is not None)
    if taken:
        # issuing for that organisation would replace the principal's password and ACLs
        raise AclFileError(
            f"[organisation] username {template.username!r} can name the principal(s) {', '.join(taken)}: "
            "give establishments' users a name no principal has"
        )
    for grant in template.grants:
        if not grant.resource.endswith("_prefix"):
            raise AclFileError("[organisation] grants only prefixes (topic_prefix, group_prefix)")
        if grant.name != org_namespace:
            # "rls.{org_id}." lets organisation `referral` read rls.referral.v1; "rls.org.{org_id}" lets `ab` read
            # `abc`'s topics; "rls.org.x.{org_id}." puts every organisation's topics in `x`'s namespace
            raise AclFileError(
                f"[organisation] {grant.resource} {grant.name!r} must be exactly {org_namespace!r}, the establishment's"
                " namespace: another prefix can reach platform topics or groups, or another organisation's"
            )
        refused = [op for op in grant.operations if op not in TEMPLATE_OPERATIONS[grant.resource]]
        if refused:
            # an establishment's user is handed out to another organisation's systems: it only ever consumes
            raise AclFileError(
                f"[organisation] may not grant {', '.join(refused)} on {grant.resource} {grant.name!r}: "
                "only READ, DESCRIBE on topic_prefix and READ on group_prefix"
            )


def _only(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise AclFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


class KafkaUsers:
    """SCRAM users and their ACLs on one broker, through an admin client of a principal allowed to change them."""

    def __init__(self, admin: KafkaAdminClient) -> None:
        self._admin = admin

    def set_password(self, username: str, password: str) -> None:
        """Creates the user or replaces its password (connections opened with the old one stay until re-auth)."""
        result = self._admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(username, SCRAM_MECHANISM, password)]
        )
        if result.get(username):
            raise KafkaUserAdminError(f"credential of {username} not set: {result[username]}")

    def delete(self, principal: Principal) -> bool:
        """Removes the user's credential and every ACL of the principal; False when there was no such user. Any other
        refusal is an error (it was taken for "no such user": the admin was told so and the password stayed)."""
        self.sync_acls(principal, keep=())
        result = self._admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion(principal.username, SCRAM_MECHANISM)]
        )
        error = result.get(principal.username)
        if error and NO_SUCH_CREDENTIAL not in error:
            raise KafkaUserAdminError(f"credential of {principal.username} not deleted: {error}")
        return not error

    def sync_acls(self, principal: Principal, keep: Sequence[ACL] | None = None) -> tuple[int, int]:
        """Makes the broker's ACLs of the principal exactly `keep` (default: its grants); returns (created, deleted)."""
        wanted = set(principal.acls() if keep is None else keep)
        present = self._acls_of(principal.kafka_principal)
        missing, stale = wanted - present, present - wanted
        if missing:
            created = self._admin.create_acls(list(missing))
            if created["failed"]:
                raise KafkaUserAdminError(f"ACLs of {principal.username} not created: {created['failed'][0]}")
        if stale:
            for _, _, error in self._admin.delete_acls([_exact(acl) for acl in stale]):
                _raise_for(error, f"ACLs of {principal.username} not deleted")
        return len(missing), len(stale)

    def _acls_of(self, kafka_principal: str) -> set[ACL]:
        every_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
        query = ACLFilter(kafka_principal, None, ACLOperation.ANY, ACLPermissionType.ANY, every_resource)
        acls, error = self._admin.describe_acls(query)
        _raise_for(error, f"ACLs of {kafka_principal} not readable")
        return set(acls)

    def apply(self, principals: Mapping[str, Principal], passwords: Mapping[str, str]) -> None:
        """Every principal of the file with its password and exactly its ACLs."""
        for name, principal in principals.items():
            self.set_password(name, passwords[name])
            self.sync_acls(principal)


def _exact(acl: ACL) -> ACLFilter:
    return ACLFilter(acl.principal, acl.host, acl.operation, acl.permission_type, acl.resource_pattern)


def _raise_for(error: Any, what: str) -> None:
    """kafka-python answers with an error class (NoError when all went well) or an error instance."""
    kind = error if isinstance(error, type) else type(error)
    if kind is not NoError:
        raise KafkaUserAdminError(f"{what}: {kind.__name__}")
