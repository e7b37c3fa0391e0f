"""Establishments read only their own topics; services only what the ACL file grants them — on a real broker with
SASL_SSL, SCRAM-SHA-512, TLS from the platform's CA and KRaft's StandardAuthorizer (no ACL, no access)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from services.common.clock import system_clock
from services.common.envelope import CloudEvent
from services.common.kafka import KafkaPublisher, Outgoing, PublishError, make_admin
from services.common.kafka_acls import KafkaUsers, Principal
from services.common.kafka_security import KafkaAccess, check_readable
from services.contract import topics
from services.contract.topics import org_referrals
from services.runtime import demo
from services.runtime.kafka_security import provision, service_principal
from tests.helpers import demo_consent, demo_referral, read_topic, wait_for
from tests.security.conftest import REAUTH_S, SecurePlatform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
INFORMATION = {"IDENTIFICATION": "Synthetic Person 0912", "CONTACT": "555-0912", "HEALTH": "synthetic note"}


def refer(secure: SecurePlatform, to_org: str, to_service: str, subject_id: str, **extra: Any) -> dict[str, Any]:
    body = demo_referral(to_org, to_service, subject_id, **extra)
    response = secure.call("referral", "POST", "/v1/referrals", demo.CSSS, "intake", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def events_about(access: KafkaAccess, topic: str, subject: str) -> list[CloudEvent]:
    return [e for _, e in read_topic(access, topic, idle_s=0.3) if e is not None and e.subject == subject]


def admin_of(access: KafkaAccess) -> KafkaAdminClient:
    return make_admin(access, "security-tests")


def assert_refused_topic(access: KafkaAccess, topic: str) -> None:
    """The broker answers TOPIC_AUTHORIZATION_FAILED (kafka-python's consumers would just receive nothing)."""
    admin = admin_of(access)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            check_readable(admin, topic)
    finally:
        admin.close()


def connects(access: KafkaAccess, timeout_s: float = 3.0) -> bool:
    try:
        KafkaAdminClient(**access.client_config(), bootstrap_timeout_ms=int(timeout_s * 1000)).close()
    except KafkaError:
        return False
    return True


def an_event(event_type: str, subject: str | None = None) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()), source="/tests", type=event_type, time=system_clock(), subject=subject, data={}
    )


def publish_as_admin(secure: SecurePlatform, topic: str, subject: str, create: bool = True) -> None:
    if create:
        admin = admin_of(secure.access())
        try:
            admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            admin.close()
    event = an_event("ca.qc.rls.test.v1", subject)
    producer = KafkaProducer(**secure.access().client_config())
    headers, value = event.to_kafka()
    producer.send(topic, value=value, headers=headers).get(30)
    producer.close()


# --- establishments ----------------------------------------------------------------------------------------


def test_an_establishment_reads_its_own_topic_and_no_other(secure: SecurePlatform) -> None:
    referral = refer(secure, demo.CRISIS_CENTRE, "CRISIS_24_7", "S-SEC-0001")
    crisis = secure.credentials(demo.CRISIS_CENTRE)
    own = wait_for(lambda: events_about(crisis, org_referrals(demo.CRISIS_CENTRE), referral["id"]), timeout=60)
    assert own[0].type == "ca.qc.rls.referral.submitted.v1"

    for elsewhere in (org_referrals(demo.CSSS), topics.REFERRAL, topics.CONSENT, topics.AUDIT_CHECKPOINTS):
        assert_refused_topic(crisis, elsewhere)
    assert events_about(crisis, org_referrals(demo.CSSS), referral["id"]) == []  # the sender's copy stays the sender's

    assert wait_for(lambda: group_reads(crisis, f"rls.org.{demo.CRISIS_CENTRE}.intake"), timeout=60)
    with pytest.raises(GroupAuthorizationFailedError):
        group_reads(crisis, f"rls.org.{demo.CSSS}.intake")


def group_reads(access: KafkaAccess, group: str) -> bool:
    """Whether a member of `group` receives records of the organisation's topic (from the start)."""
    consumer = KafkaConsumer(**access.client_config(), group_id=group, auto_offset_reset="earliest")
    try:
        topic = org_referrals(access.username.removeprefix("org-") if access.username else "")
        consumer.partitions_for_topic(topic)  # kafka-python 3.0 joins with nothing to read before it knows them
        consumer.subscribe([topic])
        return any(consumer.poll(500) for _ in range(20))
    finally:
        consumer.close()


def test_an_organisation_called_ab_cannot_read_the_topic_of_abc(secure: SecurePlatform) -> None:
    publish_as_admin(secure, org_referrals("sec-abc"), "for abc only")
    ab = secure.credentials("sec-ab")
    assert_refused_topic(ab, org_referrals("sec-abc"))
    assert read_topic(ab, org_referrals("sec-abc"), idle_s=0.5) == []
    abc = secure.credentials("sec-abc")
    assert [e.subject for _, e in read_topic(abc, org_referrals("sec-abc"), idle_s=0.5) if e] == ["for abc only"]


def test_a_wrong_password_and_unencrypted_or_anonymous_connections_are_refused(secure: SecurePlatform) -> None:
    good = secure.credentials("sec-refusals")
    assert connects(good)
    assert not connects(good.as_user(good.username or "", "not-the-password"))
    broker_log = secure.platform.settings.var_dir / "kafka" / "server.log"
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in broker_log.read_text()
    assert not connects(KafkaAccess(secure.bootstrap))  # PLAINTEXT: no TLS, no authentication
    sasl_without_tls = dict(good.client_config(), security_protocol="SASL_PLAINTEXT")
    with pytest.raises(KafkaError):
        KafkaAdminClient(**sasl_without_tls, bootstrap_timeout_ms=3000).close()
    untrusting = KafkaAccess(secure.bootstrap, "SASL_SSL", "SCRAM-SHA-512", good.username, good.password, None)
    assert not connects(untrusting)  # the broker's certificate is signed by the platform's CA, not a public one


def test_rotation_refuses_the_old_password_at_once_without_a_restart(secure: SecurePlatform) -> None:
    first = secure.credentials("sec-rotating")
    assert connects(first)
    processes = {name: process.pid for name, process in secure.platform.services.items()}
    second = secure.credentials("sec-rotating")
    assert second.username == first.username and second.password != first.password
    assert connects(second)
    assert not connects(first)
    assert {name: process.pid for name, process in secure.platform.services.items()} == processes
    assert all(process.poll() is None for process in secure.platform.services.values())


def test_revoking_removes_the_user_its_acls_and_its_live_sessions(secure: SecurePlatform) -> None:
    org = "sec-revoked"
    topic = org_referrals(org)
    publish_as_admin(secure, topic, "before revocation")
    access = secure.credentials(org)
    live = KafkaConsumer(**access.client_config(), group_id=None, auto_offset_reset="earliest")
    live.subscribe([topic])
    assert wait_for(lambda: live.poll(500), timeout=30), "the open session reads"

    revoked = secure.call("notifications", "DELETE", f"/v1/kafka-credentials/{access.username}", org, "admin")
    assert revoked.status_code == 204, revoked.text
    assert not connects(access)
    users = KafkaUsers(admin_of(secure.access()))
    assert users.sync_acls(Principal(access.username or "", "", ()), keep=()) == (0, 0), "no ACL left"
    again = secure.call("notifications", "DELETE", f"/v1/kafka-credentials/{access.username}", org, "admin")
    assert again.status_code == 404

    # ACLs are checked at every request: the open session is refused at once; it is also cut off at its next
    # re-authentication (within REAUTH_S), so even ACLs granted again later would not revive it
    broker_log = secure.platform.settings.var_dir / "kafka" / "server.log"
    failed_before = broker_log.read_text().count("Failed re-authentication")
    publish_as_admin(secure, topic, "after revocation", create=False)
    with pytest.raises(TopicAuthorizationFailedError):
        wait_for(lambda: live.poll(500), timeout=30)

    def reauthentication_failed() -> bool:
        return broker_log.read_text().count("Failed re-authentication") > failed_before

    assert wait_for(reauthentication_failed, timeout=REAUTH_S * 2, interval=0.5)
    live.close()


# --- services ------------------------------------------------------------------------------------------------


def test_the_referral_flow_runs_with_every_service_on_its_own_principal(secure: SecurePlatform) -> None:
    for name, process in secure.platform.services.items():
        environment = dict(
            line.split("=", 1) for line in Path(f"/proc/{process.pid}/environ").read_text().split("\0") if "=" in line
        )
        assert environment["KAFKA_SASL_USERNAME"] == service_principal(name)
        assert environment["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"

    referral = refer(secure, demo.CRISIS_CENTRE, "CRISIS_24_7", "S-SEC-0002", information=INFORMATION)
    crisis = secure.credentials(demo.CRISIS_CENTRE)
    [event] = wait_for(lambda: events_about(crisis, org_referrals(demo.CRISIS_CENTRE), referral["id"]), timeout=60)
    assert all(value not in event.model_dump_json() for value in INFORMATION.values())

    path = f"/v1/referrals/{referral['id']}/information"
    assert secure.call("referral", "GET", path, demo.CRISIS_CENTRE, "clinician").status_code == 403
    consent = demo_consent("S-SEC-0002", demo.CRISIS_CENTRE)
    assert secure.call("consent", "POST", "/v1/consents", demo.CSSS, "intake", json=consent).status_code == 201
    released = secure.call("referral", "GET", path, demo.CRISIS_CENTRE, "clinician")
    assert released.status_code == 200, released.text
    assert released.json()["information"] == {k: INFORMATION[k] for k in ("IDENTIFICATION", "CONTACT")}

    # the auditor replays the history with the audit service's principal, as `rls audit replay` runs
    env = {
        **os.environ,
        **secure.platform.kafka_environment("audit"),
        "RLS_VAR_DIR": str(secure.platform.settings.var_dir),
    }
    replay = subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", "replay"], env=env, capture_output=True, text=True, timeout=120
    )
    assert replay.returncode == 0, replay.stderr
    state = secure.call("audit", "GET", f"/v1/referrals/{referral['id']}/state", demo.CSSS, "auditor")
    assert state.status_code == 200, state.text
    assert state.json()["state"]["to_org"] == demo.CRISIS_CENTRE
    assert secure.call("audit", "GET", "/v1/integrity", demo.CSSS, "auditor").status_code == 403  # network only
    integrity = secure.call("audit", "GET", "/v1/integrity", "ministere", "network-auditor").json()
    assert integrity["ok"] and integrity["checkpoints_read"] > 0, integrity  # the services wrote checkpoints


def test_a_service_writing_outside_its_acls_fails_loudly(
    secure: SecurePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    referral_service = secure.access(service_principal("referral"))
    event = an_event("ca.qc.rls.consent.recorded.v1")
    publisher = KafkaPublisher(referral_service, "misconfigured-referral")
    try:
        for topic in (topics.CONSENT, org_referrals(demo.CRISIS_CENTRE)):
            with caplog.at_level(logging.ERROR), pytest.raises(PublishError, match=f"not authorised to write {topic}"):
                publisher.publish([Outgoing(topic, "key", event)])
            assert f"refused this principal the right to write {topic}" in caplog.text
    finally:
        publisher.close()
    assert_refused_topic(referral_service, topics.CONSENT)  # nor read what it does not consume


def test_the_acl_file_is_applied_idempotently(secure: SecurePlatform) -> None:
    admin = admin_of(secure.access())
    users = KafkaUsers(admin)
    principal = secure.security.acls.principals[service_principal("referral")]
    extra = Principal(principal.username, "", principal.grants + secure.security.acls.principals["svc-audit"].grants)
    assert users.sync_acls(extra)[0] > 0, "someone granted the referral service more than the file says"
    provision(admin, secure.security)  # what every start does
    assert all(users.sync_acls(p) == (0, 0) for p in secure.security.acls.principals.values())
    admin.close()
    referral_service = secure.access(service_principal("referral"))
    assert connects(referral_service)
    assert_refused_topic(referral_service, topics.CONSENT)


def test_secrets_never_reach_logs_rls_info_or_stored_events(secure: SecurePlatform) -> None:
    issued = secure.credentials("sec-secrets")
    assert issued.password is not None
    secrets = [*secure.security.passwords.values(), issued.password.get_secret_value()]
    var = secure.platform.settings.var_dir
    info = var / "run" / "platform.json"
    looked_at = [info, *(var / "log").glob("*.log"), *(var / "kafka").glob("*.log"), *var.glob("*.db")]
    assert info.exists() and json.loads(info.read_text())["kafka_security"] == "SASL_SSL"
    for path in looked_at:
        content = path.read_bytes()
        assert not any(secret.encode() in content for secret in secrets), f"a secret in {path.name}"


def test_the_command_line_issues_credentials_that_tail_the_organisations_topic(secure: SecurePlatform) -> None:
    referral = refer(secure, demo.LISTENING_LINE, "COMMUNITY_SERVICE", "S-SEC-0003")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["RLS_VAR_DIR"] = str(secure.platform.settings.var_dir)  # where `rls info` finds the running platform
    issued = subprocess.run(
        [sys.executable, "-m", "services.cli", "org", "credentials", demo.LISTENING_LINE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert issued.returncode == 0, issued.stderr
    settings = dict(line.split("=", 1) for line in issued.stdout.splitlines() if line.startswith("KAFKA_"))
    assert settings["KAFKA_SASL_USERNAME"] == f"org-{demo.LISTENING_LINE}"
    assert Path(settings["KAFKA_SSL_CAFILE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    tail = [sys.executable, "-m", "services.cli", "topic", "tail"]

    def tailed() -> str:
        run = subprocess.run(
            [*tail, org_referrals(demo.LISTENING_LINE), "--max", "50", "--timeout", "3"],
            env={**env, **settings},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return run.stdout if referral["id"] in run.stdout else ""

    assert wait_for(tailed, timeout=60, interval=1)
    refused = subprocess.run(
        [*tail, topics.REFERRAL, "--timeout", "3"], env={**env, **settings}, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "may not read rls.referral.v1" in refused.stderr
