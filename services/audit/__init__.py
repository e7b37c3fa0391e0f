"""Audit service: replay of the whole history into an audit database, state as of any date, integrity verification
of every service's event store, re-evaluation of past consent decisions, compliance reports — and a record of every
audit query (who looked at what, when)."""
