"""The dashboard: server-rendered pages (Jinja2 templates, SVG charts drawn by the server, one
small script for live updates) over the same services as the REST API, with the same tenant
and permission rules."""
