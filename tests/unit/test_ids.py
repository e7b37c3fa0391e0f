"""Aggregate ids: a new one is a UUID version 7 ordered by its millisecond; one named by a key is the UUID version 5
it always was (stored ids keep resolving)."""

from __future__ import annotations

import time
import uuid

from services.agreements.domain import agreement_id_for
from services.consent.domain import NAMESPACE as NAMESPACE_CONSENT
from services.consent.domain import keyed_id, register_entry_id_for
from services.contract.ids import id_for, time_ordered_id
from services.notifications.domain import subscription_id_for
from services.referral.domain import referral_id_for

NAMESPACE = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_a_new_id_is_a_version_7_uuid_of_this_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = time_ordered_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_new_ids_sort_by_the_millisecond_they_were_made_in_as_numbers_and_as_text() -> None:
    made = []
    for _ in range(5):
        made.append(time_ordered_id())
        time.sleep(0.002)
    assert sorted(made) == made
    assert sorted(str(i) for i in made) == [str(i) for i in made]


def test_new_ids_do_not_repeat_within_a_millisecond() -> None:
    made = [time_ordered_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert len({i.int & ((1 << 62) - 1) for i in made}) == len(made)  # the random bits differ, not only the time


def test_an_id_named_by_a_key_is_the_version_5_uuid_of_its_scope_and_key() -> None:
    assert id_for(NAMESPACE, "k-1", "decision", "csss-a") == uuid.uuid5(NAMESPACE, "decision\x1fcsss-a\x1fk-1")
    assert id_for(NAMESPACE, "k-1", "decision", "csss-a") == id_for(NAMESPACE, "k-1", "decision", "csss-a")
    assert id_for(NAMESPACE, None, "decision", "csss-a").version == 7


def test_the_services_ids_named_by_a_key_are_unchanged() -> None:
    """Ids stored before keep resolving: the same key names the same aggregate as it did with version 4 ids."""
    assert keyed_id("decision", "csss-a", "k-1") == uuid.UUID("ca81e783-f3dc-5695-bf78-3042647f1687")
    assert referral_id_for("csss-a", "k-1") == uuid.UUID("b3825bc8-0849-5220-8808-c06073ddbb82")
    assert agreement_id_for("csss-a", "k-1") == uuid.UUID("8f8b1ab2-1739-5425-8326-bb9c5bf90410")
    assert subscription_id_for("csss-a", "k-1") == uuid.UUID("574ec624-b1a1-5d1c-836d-32a5e1f96bac")
    assert {keyed_id("decision", "csss-a", None).version, referral_id_for("csss-a", None).version} == {7}
    assert {agreement_id_for("csss-a", None).version, subscription_id_for("csss-a", None).version} == {7}


def test_a_register_entry_follows_its_disclosure_in_time_order_and_keeps_the_id_a_key_gave_it() -> None:
    """Made with a new disclosure: its id carries the disclosure's millisecond, and is the same each time it is asked.
    Made with a disclosure named by a key: the version 5 id it always had."""
    disclosures = []
    for _ in range(3):
        disclosures.append(keyed_id("disclosure", "csss-a", None))
        time.sleep(0.002)
    entries = [register_entry_id_for(d) for d in disclosures]
    assert [e.version for e in entries] == [7, 7, 7]
    assert [e.int >> 80 for e in entries] == [d.int >> 80 for d in disclosures]
    assert sorted(entries) == entries
    assert entries == [register_entry_id_for(d) for d in disclosures]
    assert len(set(entries) | set(disclosures)) == 6
    keyed = keyed_id("disclosure", "csss-a", "k-1")
    assert register_entry_id_for(keyed) == uuid.uuid5(NAMESPACE_CONSENT, f"register\x1f{keyed}")
