"""Who may call what on the standards board (one tested policy; see services/common/access.py).

Board rows belong to an organisation (`org`): its workers, administrators, auditors and its own `service` principal
(its telephony system) read its own rows; network auditors and the platform's own services (role `service` of
`PLATFORM_ORG`) read every organisation's. Info-Social rows are regional counts with nobody's information in them: any
worker or auditor reads them. Calls are reported by telephony systems (role `service`) or an administrator.
"""

from __future__ import annotations

from services.common.access import AUDITORS, WORKERS, Policy, Rule
from services.common.auth import SERVICE

READERS = WORKERS | AUDITORS | {"admin", SERVICE}

POLICY = Policy(
    "standards",
    {
        "board": Rule(READERS, ("org",), "an organisation's own rows (network auditors: every organisation's)"),
        "board_csv": Rule(READERS, ("org",), "the same rows as CSV"),
        "infosocial_board": Rule(READERS, (), "regional Info-Social rows (counts only)"),
        "report_calls": Rule(frozenset({SERVICE, "admin"}), (), "a telephony system reports calls"),
    },
)
