"""The proxy an HTTP adapter takes from the environment, as httpx and botocore take it.

``HTTPS_PROXY`` or ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``; none when
``NO_PROXY`` is ``*`` or names the URL's host (``example.com`` also covers its subdomains,
``.example.com`` only them). The adapters that speak HTTP directly over aiohttp (the
OpenAI-compatible one, Bedrock) resolve it once per engine.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit


def environment_proxy(url: str) -> str | None:
    """The proxy for ``url`` from the environment, or None for a direct connection."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    host = (parts.hostname or "").lower()
    if any(_bypasses(entry.strip().lower(), host) for entry in proxies.get("no", "").split(",")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypasses(no_proxy: str, host: str) -> bool:
    """Whether one ``NO_PROXY`` entry covers ``host``."""
    if no_proxy == "*":
        return True
    if no_proxy.startswith("."):
        return host.endswith(no_proxy)
    return bool(no_proxy) and (host == no_proxy or host.endswith("." + no_proxy))
