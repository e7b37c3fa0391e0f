"""The ACL file (deploy/kafka/acls.toml): what each principal may do is least privilege, and the file is checked.

Each principal's ACLs, as the broker receives them (operation, resource type, pattern type, name), are compared with
an allow-list written out here from what its service's code publishes, consumes and creates: a grant missing from
the file and a grant the list does not name both fail, prefixes included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.agreements.settings import AgreementsSettings
from services.audit.settings import AuditSettings
from services.common.kafka import dlq_topic
from services.common.kafka_acls import CLUSTER_RESOURCE, AclFile, AclFileError, Principal, load_acl_file
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.notifications.settings import NotificationsSettings
from services.referral.settings import ReferralSettings
from services.runtime.kafka_security import CREDENTIALS_ISSUER, service_principal
from services.runtime.registry import SERVICES
from services.standards.settings import StandardsSettings

NAMESPACE = topics.ORG_NAMESPACE
ORG_TOPICS = topics.ORG_TOPICS


def load(path: Path) -> AclFile:
    return load_acl_file(path, org_namespace=NAMESPACE)


ACLS = load_acl_file(org_namespace=NAMESPACE)

Acl = tuple[str, str, str, str]
"""(operation, resource type, pattern type, resource name): one ACL as the broker holds it (always ALLOW, any host)."""

WRITES = ("WRITE", "DESCRIBE")
READS = ("READ", "DESCRIBE")


def topic(name: str, *operations: str) -> set[Acl]:
    return {(operation, "TOPIC", "LITERAL", name) for operation in operations}


def topic_prefix(prefix: str, *operations: str) -> set[Acl]:
    return {(operation, "TOPIC", "PREFIXED", prefix) for operation in operations}


def group(name: str, *operations: str) -> set[Acl]:
    return {(operation, "GROUP", "LITERAL", name) for operation in operations}


def group_prefix(prefix: str, *operations: str) -> set[Acl]:
    return {(operation, "GROUP", "PREFIXED", prefix) for operation in operations}


def cluster(*operations: str) -> set[Acl]:
    return {(operation, "CLUSTER", "LITERAL", CLUSTER_RESOURCE) for operation in operations}


referral, agreements, consent = ReferralSettings(), AgreementsSettings(), ConsentSettings()
notifications, audit, standards = NotificationsSettings(), AuditSettings(), StandardsSettings()
STANDARDS_READS = [standards.referral_topic, standards.agreements_topic, standards.calls_topic]

EXPECTED: dict[str, set[Acl]] = {
    "svc-referral": {
        # its outbox relay publishes the referral events (referral/main.py build_relay, referral/outbound.py)
        *topic(topics.REFERRAL, *WRITES),
        # and dead-letters an event Kafka refuses beside its topic (common/relay.py)
        *topic(dlq_topic(topics.REFERRAL), *WRITES),
        # the chain heads of its event store (common/service.py checkpoint_workers)
        *topic(referral.checkpoint_topic, *WRITES),
    },
    "svc-agreements": {
        # relay: the agreements events and their dead letters; its store's checkpoints
        *topic(topics.AGREEMENTS, *WRITES),
        *topic(dlq_topic(topics.AGREEMENTS), *WRITES),
        *topic(agreements.checkpoint_topic, *WRITES),
        # counts volumes from the referral events in its own group; poison records go to the topic's .dlq
        # (agreements/main.py build_consumers, common/consumer.py)
        *topic(topics.REFERRAL, *READS),
        *topic(dlq_topic(topics.REFERRAL), *WRITES),
        *group(agreements.consumer_group, "READ"),
    },
    "svc-consent": {
        # relay: decisions and consent events (consent/outbound.py consent_messages) and their dead letters
        *topic(topics.CONSENT_DECISIONS, *WRITES),
        *topic(dlq_topic(topics.CONSENT_DECISIONS), *WRITES),
        *topic(topics.CONSENT, *WRITES),
        *topic(dlq_topic(topics.CONSENT), *WRITES),
        *topic(consent.checkpoint_topic, *WRITES),
        # learns the agreements in its own group (consent/main.py build_consumers)
        *topic(topics.AGREEMENTS, *READS),
        *topic(dlq_topic(topics.AGREEMENTS), *WRITES),
        *group(consent.consumer_group, "READ"),
    },
    "svc-notifications": {
        # fans the referral events out from its own group (notifications/main.py build_consumers)
        *topic(topics.REFERRAL, *READS),
        *topic(dlq_topic(topics.REFERRAL), *WRITES),
        *group(notifications.consumer_group, "READ"),
        # to each establishment's topic, created on first use (notifications/outbound.py TopicTransport,
        # common/kafka.py KafkaPublisher): Kafka has no narrower pattern than this prefix for `rls.org.*.referrals.v1`
        *topic_prefix(ORG_TOPICS, "CREATE", *WRITES),
        *topic(notifications.checkpoint_topic, *WRITES),
    },
    CREDENTIALS_ISSUER: {
        # SCRAM users and their ACLs (notifications/credentials.py): AlterUserScramCredentials, CreateAcls and
        # DeleteAcls need ALTER on the cluster, DescribeAcls needs DESCRIBE; nothing else
        *cluster("ALTER", "DESCRIBE"),
    },
    "svc-audit": {
        # replays the history from offset 0, assigning partitions itself: no group (audit/settings.py history_topics)
        *(acl for name in audit.history_topics for acl in topic(name, *READS)),
        # its own store's checkpoints (audit/main.py build_relay)
        *topic(audit.checkpoint_topic, *WRITES),
    },
    "svc-standards": {
        # the faust worker's agents read these in group `app_id`; poison records go to each topic's .dlq
        # (standards/worker.py, standards/inbound.py)
        *(acl for name in STANDARDS_READS for acl in topic(name, *READS) | topic(dlq_topic(name), *WRITES)),
        # (DESCRIBE on the group adds nothing: the broker implies it from READ; kept as the file has it)
        *group(standards.app_id, "READ", "DESCRIBE"),
        # POST /v1/infosocial/calls publishes the reported calls (standards/api.py)
        *topic(standards.calls_topic, "WRITE"),
        # the worker creates the compacted board topic and publishes it; the API's board view follows it without a
        # group (standards/worker.py ensure_board_topics, standards/views.py BoardView)
        *topic(standards.board_topic, "CREATE", "READ", "WRITE", "DESCRIBE"),
        # faust's tables: it creates, writes and recovers from `<app_id>-<table>-changelog` (and its
        # `<app_id>-__assignor-__leader` topic)
        *topic_prefix(f"{standards.app_id}-", "CREATE", "READ", "WRITE", "DESCRIBE"),
        # no code needs this one (faust creates topics with CreateTopics v1 and never describes configs; the worker
        # ran without it on a secure broker): listed because the file grants it, until it is removed there
        *topic_prefix(f"{standards.app_id}-", "DESCRIBE_CONFIGS"),
    },
}
"""Every principal of the file and exactly its ACLs."""

SERVICE_OF = {**{service_principal(s): s for s in SERVICES}, CREDENTIALS_ISSUER: "notifications"}


def granted(principal: Principal) -> set[Acl]:
    """The principal's ACLs as the broker gets them (the same objects `rls run` and the issuer create)."""
    result = set()
    for acl in principal.acls():
        assert acl.principal == principal.kafka_principal
        assert (acl.host, acl.permission_type.name) == ("*", "ALLOW")
        pattern = acl.resource_pattern
        result.add((acl.operation.name, pattern.resource_type.name, pattern.pattern_type.name, pattern.resource_name))
    return result


def allowed(principal: Principal, resource: str, name: str, operation: str) -> bool:
    """What the broker would answer (a prefix grant covers every name starting with it)."""
    for grant in principal.grants:
        kind = grant.resource.removesuffix("_prefix")
        matches = name.startswith(grant.name) if grant.resource.endswith("_prefix") else name == grant.name
        if kind == resource and matches and operation in grant.operations:
            return True
    return False


def test_every_service_has_its_own_principal_named_for_it() -> None:
    assert set(ACLS.principals) == set(EXPECTED) == set(SERVICE_OF)
    for name, principal in ACLS.principals.items():
        assert principal.service == SERVICE_OF[name], name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_principal_has_exactly_the_acls_its_service_needs(name: str) -> None:
    have, want = granted(ACLS.principals[name]), EXPECTED[name]
    assert (sorted(have - want), sorted(want - have)) == ([], []), "(granted beyond the list, missing)"


def test_each_event_topic_has_one_writer_and_no_service_reads_an_establishments_topic() -> None:
    """What the lists above amount to across principals (a check of the lists themselves)."""
    writers = {t: {n for n in EXPECTED if topic(t, "WRITE") <= EXPECTED[n]} for t in topics.PLATFORM_TOPICS}
    assert writers == {
        topics.REFERRAL: {"svc-referral"},
        topics.AGREEMENTS: {"svc-agreements"},
        topics.CONSENT_DECISIONS: {"svc-consent"},
        topics.CONSENT: {"svc-consent"},
        topics.AUDIT_CHECKPOINTS: {service_principal(s) for s in SERVICES} - {"svc-standards"},
        topics.INFOSOCIAL_CALLS: {"svc-standards"},
    }
    assert topics.org_referrals("any-org").startswith(ORG_TOPICS)
    for name, acls in EXPECTED.items():
        assert {acl[3] for acl in acls if acl[2] == "PREFIXED"} <= {ORG_TOPICS, f"{standards.app_id}-"}, name
        assert not any(acl[3].startswith(ORG_TOPICS) and acl[0] == "READ" for acl in acls), name


def test_an_organisation_gets_exactly_read_on_its_own_prefixes() -> None:
    assert granted(ACLS.for_organisation("ab")) == {
        *topic_prefix("rls.org.ab.", "READ", "DESCRIBE"),
        *group_prefix("rls.org.ab.", "READ"),
    }


def test_an_organisation_reads_only_its_own_prefix_and_the_trailing_dot_keeps_ab_out_of_abc() -> None:
    ab, abc = ACLS.for_organisation("ab"), ACLS.for_organisation("abc")
    assert ab.username == "org-ab"
    assert allowed(ab, "topic", topics.org_referrals("ab"), "READ")
    assert not allowed(ab, "topic", topics.org_referrals("abc"), "READ")
    assert not allowed(abc, "topic", topics.org_referrals("ab"), "READ")
    assert allowed(ab, "group", "rls.org.ab.intake", "READ")
    assert not allowed(ab, "group", "rls.org.abc.intake", "READ")
    for elsewhere in (topics.REFERRAL, topics.CONSENT, topics.AUDIT_CHECKPOINTS, "rls.org.ab"):
        assert not allowed(ab, "topic", elsewhere, "READ"), elsewhere
    assert ACLS.organisation_of("org-ab") == "ab"
    assert ACLS.organisation_of(service_principal("referral")) is None
    assert ACLS.organisation_of("org-") is None
    with pytest.raises(AclFileError):
        ACLS.for_organisation("ab.c")


def _template(*acls: str) -> str:
    """An [organisation] template granting `acls` (each the inside of one TOML inline table)."""
    listed = ", ".join("{ " + acl + " }" for acl in acls)
    return '[organisation]\nusername = "org-{org_id}"\nacls = [' + listed + "]\n"


ORGANISATION = _template(f'topic_prefix = "{NAMESPACE}", operations = ["READ"]')
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
        (ORGANISATION.replace(f'"{NAMESPACE}"', '"rls.org.{org_id}"'), "must be exactly"),
        (ORGANISATION.replace('"org-{org_id}"', '"org"'), "username"),
        (ORGANISATION.replace("topic_prefix", "topic"), "prefixes"),
        (_template('cluster = true, operations = ["DESCRIBE"]'), "prefixes"),
    ],
)
def test_a_file_the_broker_could_not_apply_as_meant_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "acls.toml"
    path.write_text(text)
    with pytest.raises(AclFileError, match=complaint):
        load(path)


@pytest.mark.parametrize("resource", ["topic_prefix", "group_prefix"])
@pytest.mark.parametrize(
    "prefix", ["rls.{org_id}.", "{org_id}.", "rls.org.x.{org_id}.", "rls.org.{org_id}.referrals.", "o.{org_id}."]
)
def test_a_template_prefix_other_than_the_establishments_namespace_is_refused(
    tmp_path: Path, resource: str, prefix: str
) -> None:
    """`rls.{org_id}.` was accepted: organisation `referral` got READ on rls.referral.v1 (and `consent` on the
    consent service's internal topic); `rls.org.x.{org_id}.` put every organisation's topics inside `x`'s."""
    path = tmp_path / "acls.toml"
    path.write_text(_template(f'{resource} = "{prefix}", operations = ["READ"]'))
    with pytest.raises(AclFileError, match=re.escape(f"{resource} '{prefix}' must be exactly '{NAMESPACE}'")):
        load(path)


def test_a_username_template_that_can_name_a_principal_is_refused(tmp_path: Path) -> None:
    """`svc-{org_id}` was accepted: issuing for organisation `referral` would replace svc-referral's password and
    ACLs (and hand its password to the establishment)."""
    path = tmp_path / "acls.toml"
    principal = PRINCIPAL.replace("principals.x", "principals.svc-referral") % 'topic = "t", operations = ["WRITE"]'
    path.write_text(principal + ORGANISATION.replace('"org-{org_id}"', '"svc-{org_id}"'))
    with pytest.raises(AclFileError, match=re.escape("username 'svc-{org_id}' can name the principal(s) svc-referral")):
        load(path)


PLATFORM_NAMES = sorted(
    {grant.name for principal in ACLS.principals.values() for grant in principal.grants if grant.resource != "cluster"}
    | {name for t in (*topics.PLATFORM_TOPICS, topics.STANDARDS_BOARD) for name in (t, dlq_topic(t))}
)
"""Every topic, group and prefix the platform's principals use, and the contract's topics with their dead letters."""


@pytest.mark.parametrize("org_id", [*SERVICES, "org", "rls", "decisions", "checkpoints", "infosocial", "v1"])
def test_an_organisation_named_after_a_service_reads_nothing_of_the_platform_nor_of_another_organisation(
    org_id: str,
) -> None:
    """Why no id the credentials endpoint accepts reaches beyond its own namespace: the prefixes are exactly
    `rls.org.<org_id>.`, no platform name starts with `rls.org.`, and ids have no dot (the endpoint answers 422
    naming `org_id` otherwise), so `rls.org.<org_id>.` never starts another organisation's namespace."""
    organisation = ACLS.for_organisation(org_id)
    assert {grant.name for grant in organisation.grants} == {topics.org_namespace(org_id)}
    for name in PLATFORM_NAMES:
        assert not name.startswith(ORG_TOPICS) or name == ORG_TOPICS, name  # the notifications' CREATE prefix
        assert not any(allowed(organisation, kind, name, "READ") for kind in ("topic", "group")), name
    for other in ("ab", f"{org_id}-x", f"{org_id}_x", f"x{org_id}", org_id.upper()):
        if other != org_id:
            assert not allowed(organisation, "topic", topics.org_referrals(other), "READ"), other
            assert not allowed(organisation, "group", topics.org_namespace(other) + "intake", "READ"), other


@pytest.mark.parametrize(
    "acl",
    [
        *(f'topic_prefix = "{NAMESPACE}", operations = ["READ", "{op}"]' for op in ("WRITE", "CREATE", "DELETE")),
        *(f'topic_prefix = "{NAMESPACE}", operations = ["{op}"]' for op in ("ALTER", "ALTER_CONFIGS")),
        f'topic_prefix = "{NAMESPACE}", operations = ["DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE"]',
        f'group_prefix = "{NAMESPACE}", operations = ["READ", "DESCRIBE"]',
        f'group_prefix = "{NAMESPACE}", operations = ["DELETE"]',
    ],
)
def test_the_organisation_template_grants_nothing_but_reading(tmp_path: Path, acl: str) -> None:
    path = tmp_path / "acls.toml"
    path.write_text(_template(f'topic_prefix = "{NAMESPACE}", operations = ["READ", "DESCRIBE"]', acl))
    with pytest.raises(AclFileError, match=r"\[organisation\] may not grant .*only READ, DESCRIBE on topic_prefix"):
        load(path)


def test_the_organisation_template_may_read_and_describe_its_topics_and_read_its_groups(tmp_path: Path) -> None:
    path = tmp_path / "acls.toml"
    path.write_text(
        _template(
            f'topic_prefix = "{NAMESPACE}", operations = ["read", "DESCRIBE"]',
            f'group_prefix = "{NAMESPACE}", operations = ["READ"]',
        )
    )
    assert granted(load(path).for_organisation("ab")) == {
        *topic_prefix(topics.org_namespace("ab"), "READ", "DESCRIBE"),
        *group_prefix(topics.org_namespace("ab"), "READ"),
    }
