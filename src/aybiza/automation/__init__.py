"""The automation engine: tools the agent calls during a call, and workflows run after it.

- Tools (``aybiza.automation.tools``): per-tenant definitions, the built-ins (``send_dtmf``,
  ``send_sms``, ``collect_digits`` and the preconditions of ``end_call``/``transfer_call``),
  HTTP tools signed like the platform's webhooks and guarded against SSRF, and the
  ``ToolRunner`` a call uses (``load_tool_kit``, then ``ToolKit.bind``).
- Workflows (``aybiza.automation.workflows``): durable runs of steps triggered by platform events,
  run in-process or on arq workers, including the built-in post-call analysis.
- ``Automation`` (``aybiza.automation.platform``) wires both into a server process.
"""
