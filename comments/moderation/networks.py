"""Network keys: what the server keeps of a reader's address.

A ban covers the network a guest posted from (an IPv4 address, an IPv6 /64: what one
household or phone usually gets), and guest reports count once per network. Both need
to recognise a network again without keeping the address: a network key is an
HMAC-SHA256 of the site and the network under the server's secret
(``COMMENTS_SECRET_KEY``, or one generated once and kept in the database). Without the
secret a key says nothing about the address; keys of one network differ across sites.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

IPV6_PREFIX = 64


def network_of(address: str) -> str | None:
    """The network an address stands for (``203.0.113.5/32``, ``2001:db8:1:2::/64``);
    None when it is not an IP address (a test client, a Unix socket)."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return f"{ip}/32"
    return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))


class NetworkKeys:
    """Keyed hashes of networks. The secret is set once the node has read it from the
    settings or the database (``Node.start``)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret

    def set_secret(self, secret: bytes) -> None:
        self._secret = secret

    @property
    def ready(self) -> bool:
        return self._secret is not None

    def key(self, site: str, address: str) -> str | None:
        """The site's key for the network of ``address`` (64 hex digits), or None."""
        network = network_of(address)
        if network is None:
            return None
        if self._secret is None:
            raise RuntimeError("network keys are used before the node read its secret")
        message = f"{site}\x00{network}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
