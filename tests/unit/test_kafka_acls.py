"""The ACL file (deploy/kafka/acls.toml): what each principal may do is least privilege, and the file is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agreements.settings import AgreementsSettings
from services.audit.settings import AuditSettings
from services.common.kafka import dlq_topic
from services.common.kafka_acls import AclFileError, Principal, load_acl_file
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.notifications.settings import NotificationsSettings
from services.runtime.kafka_security import CREDENTIALS_ISSUER, service_principal
from services.runtime.registry import SERVICES
from services.standards.settings import StandardsSettings

ACLS = load_acl_file()

CONSUMERS = {  # service -> (its consumer group, the topics it consumes); the composition roots say the same
    "agreements": (AgreementsSettings().consumer_group, [topics.REFERRAL]),
    "consent": (ConsentSettings().consumer_group, [topics.AGREEMENTS]),
    "notifications": (NotificationsSettings().consumer_group, [topics.REFERRAL]),
    "standards": (StandardsSettings().app_id, [topics.REFERRAL, topics.AGREEMENTS, topics.INFOSOCIAL_CALLS]),
}
READS_ALSO = {"standards": {topics.STANDARDS_BOARD}}
"""Topics read without a group: the standards API follows the board its worker publishes."""
CHECKPOINTED = set(SERVICES) - {"standards"}
"""Services with an event store, whose chain heads they publish (the standards board has none)."""
PUBLISHES = {
    "referral": [topics.REFERRAL],
    "agreements": [topics.AGREEMENTS],
    "consent": [topics.CONSENT_DECISIONS, topics.CONSENT],
    "notifications": [topics.org_referrals("any-org")],
    "audit": [],
    "standards": [topics.INFOSOCIAL_CALLS, topics.STANDARDS_BOARD],
}

RELAYS = {service: PUBLISHES[service] for service in ("referral", "agreements", "consent")}
"""What each outbox relay publishes."""


def allowed(principal: Principal, resource: str, name: str, operation: str) -> bool:
    """What the broker would answer (a prefix grant covers every name starting with it)."""
    for grant in principal.grants:
        kind = grant.resource.removesuffix("_prefix")
        matches = name.startswith(grant.name) if grant.resource.endswith("_prefix") else name == grant.name
        if kind == resource and matches and operation in grant.operations:
            return True
    return False


def principal_of(service: str) -> Principal:
    return ACLS.principals[service_principal(service)]


def test_every_service_has_its_own_principal_named_for_it() -> None:
    for service in SERVICES:
        assert principal_of(service).service == service
    assert ACLS.principals[CREDENTIALS_ISSUER].service == "notifications"
    assert set(ACLS.principals) == {*(service_principal(s) for s in SERVICES), CREDENTIALS_ISSUER}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_may_write_what_it_publishes_and_its_checkpoints_and_nothing_else(service: str) -> None:
    principal = principal_of(service)
    checkpoints = [topics.AUDIT_CHECKPOINTS] if service in CHECKPOINTED else []
    for topic in [*PUBLISHES[service], *checkpoints]:
        assert allowed(principal, "topic", topic, "WRITE"), topic
    consumed = CONSUMERS.get(service, ("", []))[1]
    relayed = RELAYS.get(service, [])  # its outbox relay dead-letters an event Kafka refuses beside its topic
    for topic in relayed:
        assert allowed(principal, "topic", dlq_topic(topic), "WRITE"), dlq_topic(topic)
    writable_dlqs = {dlq_topic(t) for t in [*consumed, *relayed]}
    for topic in [topics.REFERRAL, topics.AGREEMENTS, topics.CONSENT_DECISIONS, topics.CONSENT]:
        if topic not in PUBLISHES[service]:
            assert not allowed(principal, "topic", topic, "WRITE"), f"{service} may write {topic}"
    for grant in principal.grants:
        if "WRITE" in grant.operations and grant.resource == "topic":
            assert grant.name in {*PUBLISHES[service], *checkpoints, *writable_dlqs}, grant


@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_each_consumer_reads_its_topics_in_its_own_group_and_dead_letters_beside_them(service: str) -> None:
    principal = principal_of(service)
    group, consumed = CONSUMERS[service]
    assert allowed(principal, "group", group, "READ")
    for topic in consumed:
        assert allowed(principal, "topic", topic, "READ")
        assert allowed(principal, "topic", dlq_topic(topic), "WRITE")
    readable = {g.name for g in principal.grants if "READ" in g.operations and g.resource == "topic"}
    assert readable == set(consumed) | READS_ALSO.get(service, set())
    assert [g.name for g in principal.grants if g.resource.startswith("group")] == [group]


def test_the_audit_service_reads_the_whole_history_and_writes_only_its_checkpoints() -> None:
    audit = principal_of("audit")
    for topic in AuditSettings().history_topics:
        assert allowed(audit, "topic", topic, "READ"), topic
    assert [g.name for g in audit.grants if "WRITE" in g.operations] == [topics.AUDIT_CHECKPOINTS]


def test_only_the_credentials_issuer_touches_the_cluster_and_it_touches_nothing_else() -> None:
    for name, principal in ACLS.principals.items():
        on_cluster = [g for g in principal.grants if g.resource == "cluster"]
        assert bool(on_cluster) == (name == CREDENTIALS_ISSUER), name
    assert [g.resource for g in ACLS.principals[CREDENTIALS_ISSUER].grants] == ["cluster"]


def test_an_organisation_reads_only_its_own_prefix_and_the_trailing_dot_keeps_ab_out_of_abc() -> None:
    ab, abc = ACLS.for_organisation("ab"), ACLS.for_organisation("abc")
    assert ab.username == "org-ab"
    assert allowed(ab, "topic", topics.org_referrals("ab"), "READ")
    assert not allowed(ab, "topic", topics.org_referrals("abc"), "READ")
    assert not allowed(abc, "topic", topics.org_referrals("ab"), "READ")
    assert allowed(ab, "group", "rls.org.ab.intake", "READ")
    assert not allowed(ab, "group", "rls.org.abc.intake", "READ")
    assert not any(op in g.operations for g in ab.grants for op in ("WRITE", "CREATE", "ALTER", "DELETE"))
    for elsewhere in (topics.REFERRAL, topics.CONSENT, topics.AUDIT_CHECKPOINTS, "rls.org.ab"):
        assert not allowed(ab, "topic", elsewhere, "READ"), elsewhere
    assert ACLS.organisation_of("org-ab") == "ab"
    assert ACLS.organisation_of(service_principal("referral")) is None
    assert ACLS.organisation_of("org-") is None
    with pytest.raises(AclFileError):
        ACLS.for_organisation("ab.c")


ORGANISATION = (
    '[organisation]\nusername = "org-{org_id}"\nacls = [{ topic_prefix = "o.{org_id}.", operations = ["READ"] }]\n'
)
PRINCIPAL = "[principals.x]\nacls = [{ %s }]\n"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (PRINCIPAL % 'topic = "t", operations = ["READ"]', "no \\[organisation\\]"),
        (PRINCIPAL % 'topic = "*", operations = ["READ"]' + ORGANISATION, "wildcards"),
        (PRINCIPAL % 'topic = "t", group = "g", operations = ["READ"]' + ORGANISATION, "exactly one"),
        (PRINCIPAL % 'topic = "t", operations = ["ALL"]' + ORGANISATION, "operations"),
        (PRINCIPAL % 'topic = "t", operations = ["REED"]' + ORGANISATION, "operations"),
        (PRINCIPAL % 'topic = "t", operations = ["READ"], host = "*"' + ORGANISATION, "unknown key"),
        (PRINCIPAL % 'cluster = "yes", operations = ["ALTER"]' + ORGANISATION, "cluster = true"),
        ("[principals.x]\nacls = []\n" + ORGANISATION, "grants nothing"),
        (ORGANISATION.replace('"o.{org_id}."', '"o.{org_id}"'), "trailing dot"),
        (ORGANISATION.replace('"org-{org_id}"', '"org"'), "username"),
        (ORGANISATION.replace("topic_prefix", "topic"), "prefixes"),
    ],
)
def test_a_file_the_broker_could_not_apply_as_meant_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "acls.toml"
    path.write_text(text)
    with pytest.raises(AclFileError, match=complaint):
        load_acl_file(path)
