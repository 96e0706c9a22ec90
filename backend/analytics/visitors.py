"""Telling visitors apart without keeping their addresses.

A visitor who is not signed in is a keyed hash of their address (the /64 network for
IPv6, where one host holds many addresses), with a key derived from the app's secret,
the purpose and the day: the same visitor is the same 16 bytes all day within one
purpose, unlinkable across days and purposes, and no address is ever stored.
"""

import hashlib
import hmac
import ipaddress
from datetime import date

from backend.settings import get_settings


def _key(purpose: str, day: date) -> bytes:
    secret = get_settings().secret_key.encode()
    label = f"{purpose}:visitor:{day.isoformat()}"
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def visitor_id(client: str, day: date, purpose: str) -> bytes | None:
    """16 bytes that stand for the address `client` on `day`; None without an address."""
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address):
        subject = str(ipaddress.ip_network(f"{address}/64", strict=False))
    else:
        subject = str(address)
    return hmac.new(_key(purpose, day), subject.encode(), hashlib.sha256).digest()[:16]
