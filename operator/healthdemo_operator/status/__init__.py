"""The status pipeline: a HealthDemo's status from what was observed, exact and durable.

`record.record` is the one entrance; `status.Status` the typed status it builds; `ledger.Ledger`
what was already counted (in `status.accounting`); the other modules are its passes, in the
order `record` runs them.
"""
