"""Agent evals: ``aybiza eval SPEC`` places each scenario's call through the real call path
(the Twilio simulator against a server), checks what the call record shows, and reports as
JUnit XML and HTML (docs/evals.md)."""
