"""Which URLs the service will ever contact for webhooks: one rule set, applied when a key is
created or updated (`cinegen keys create|update --webhook-url`) and again at every delivery.

http(s) only, no credentials in the URL, the host (or host:port) on `webhook_allow_hosts`, and a
host name resolving to a private, loopback or link-local address refused unless that address is
itself allowlisted; so `file:///etc/passwd`, `gopher://...` or `http://169.254.169.254/...` never
become a key's webhook, and a key holder cannot aim the service at internal addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class WebhookRefused(ValueError):
    """A URL the service will not deliver to."""


def check_url(url: str, allow_hosts: tuple[str, ...], *, resolve: bool = True) -> None:
    """Raise WebhookRefused unless `url` is http(s) to an allowlisted, non-internal host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"webhook URL must be http(s)://host/..., got {url!r}")
    if parts.username or parts.password:
        raise WebhookRefused("webhook URL must not carry credentials")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    allowed = {h.lower() for h in allow_hosts}
    if host not in allowed and f"{host}:{port}" not in allowed:
        raise WebhookRefused(f"webhook host {host}:{port} is not on the allowlist")
    if not resolve:
        return
    try:
        ipaddress.ip_address(host)
        return  # an address literal that is explicitly allowlisted
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise WebhookRefused(f"cannot resolve webhook host {host}: {e}") from e
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        internal = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        if internal and str(ip) not in allowed and f"{ip}:{port}" not in allowed:
            raise WebhookRefused(f"webhook host {host} resolves to internal address {ip}")
