"""The call simulator: a caller that acts as Twilio against a running AYBIZA server.

``twilio_client.SimulatedCall`` is the Python API (e2e tests, benchmarks); ``command.call`` is
``aybiza call``.
"""
