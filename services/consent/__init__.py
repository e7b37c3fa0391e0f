"""Consent service: consents, the disclosure decision engine (LSSSS arts. 17-27.3 or the LRSSS), the register.

Layout: `policy` (value objects), `rules` (the rule tables, as data), `engine` (`evaluate`, pure), `explain`
(French/English texts), `domain` (aggregates), `views` (projections of the event log into indexed tables, incl.
agreements as they stood at any time), `application` (`Consents`, the only write path), `outbound` (integration
events), `api_models` and `api` (REST v1), `inbound` (`rls.agreements.v1`), `settings`, `main` (composition root).
"""
