"""Tamper evidence for every service's event store: sealed, chained event hashes and published checkpoints.

`hashing` (what a seal is made of), `sealing` (the recorders that seal each event in the transaction inserting
it), `checkpoints` (the chain heads published on Kafka). Verification lives with its caller, the audit service
(`services/audit/verification.py`): it recomputes everything from the rows and names the first altered, removed,
reordered or inserted event.

Erasing a person's record information deletes their key in the referral vault, a separate store, and changes no
stored event: every seal still verifies afterwards.
"""
