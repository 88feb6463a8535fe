"""The traffic client: requests through a HealthDemo's Service, each answer counted by kind.

What a probe protects is traffic. This client sends `GET /work` to its own HealthDemo's Service
at a low, fixed rate, on a new connection each time (so the Service picks a Pod each time), and
counts every answer: ok, 5xx, refused, reset, timed out (`tally`). It keeps its counts in a
file on an emptyDir, so a restart of its own container loses nothing, and serves them at
`GET /counts` for the operator (`serve`). `python -m webapp.traffic` runs it (`config`).
"""
