"""Who may call what in the notifications service (one tested policy; see services/common/access.py).

An organisation's coordinators and admins manage its own subscriptions and deliveries, nobody else's; its admins
alone its Kafka credentials.
"""

from __future__ import annotations

from services.common.access import Policy, Rule

MANAGERS = frozenset({"admin", "coordinator"})
OWN = Rule(MANAGERS, ("owner",), "the organisation's own subscriptions and deliveries")

CREDENTIALS = Rule(frozenset({"admin"}), ("owner",), "the organisation's own Kafka credentials, by its admins")

POLICY = Policy(
    "notifications",
    {
        **{
            operation: OWN
            for operation in (
                "subscribe",
                "list_subscriptions",
                "get_subscription",
                "pause",
                "resume",
                "rotate_secret",
                "unsubscribe",
                "list_deliveries",
                "get_delivery",
                "redeliver",
            )
        },
        "issue_credentials": CREDENTIALS,
        "revoke_credentials": CREDENTIALS,
    },
)
