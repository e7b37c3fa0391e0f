"""Consent service: consents, the disclosure decision engine (LSSSS arts. 17-27.3 or the LRSSS), the register.

Layout: `policy` (value objects), `rules` (the rule tables, as data), `engine` (`evaluate`, pure), `explain`
(French/English texts), `domain` (aggregates), `readmodel` (projection of the event log, incl. agreements as they
stood at any time), `application` (`Consents`, the only write path), `contracts` (integration events), `models` and
`api` (REST v1), `consumers` (`rls.agreements.v1`), `settings`, `main` (composition root).
"""
