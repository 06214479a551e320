"""The browser carrier: a test call from the dashboard over one WebSocket (``/web/call``)."""
