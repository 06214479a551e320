"""Sign-in lock-outs with exponential backoff.

After ``free`` failed attempts in a row, each further failure locks the subject (an account, or
a source address) for ``base_s * 2**(failures - free)`` seconds, at most ``max_s``. A success
clears the account's count; an address's count is forgotten after ``forget_s`` without a
failure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Backoff:
    """The lock-out rule for one kind of subject."""

    free: int
    base_s: float
    max_s: float
    forget_s: float = 3600.0

    def lock_for(self, failures: int) -> timedelta | None:
        """How long ``failures`` failures in a row lock the subject (None: not yet)."""
        if failures < self.free:
            return None
        exponent = min(failures - self.free, 30)
        return timedelta(seconds=min(self.base_s * 2**exponent, self.max_s))

    def forgotten(self, last_failure_at: datetime, now: datetime) -> bool:
        """Whether failures this old no longer count."""
        return now - last_failure_at > timedelta(seconds=self.forget_s)


def address_range(address: str) -> str | None:
    """The range an address belongs to for "new address" alerts: its /24 (IPv4) or /48
    (IPv6); None for something that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
