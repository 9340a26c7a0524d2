"""The certificate a server presents, for a TLS error that the admin can act on.

A PVE node serves a certificate signed by its cluster's own CA (`pve-root-ca.pem`),
which no system store trusts, so the first connection to a real cluster fails TLS
verification. "did not verify" alone leaves the admin to find the fingerprint some
other way; the error instead shows the SHA-256 fingerprint of the certificate the
server presented, in the form `connection.api.fingerprint` takes, with how to check it
on the node before pinning it. The certificate is read once more over a connection
that verifies nothing and sends nothing: only the handshake, no request, no token.
"""

from __future__ import annotations

import hashlib
import socket
import ssl


def presented_fingerprint(host: str, port: int, timeout: float = 5.0) -> str | None:
    """SHA-256 fingerprint (AA:BB:...) of the certificate `host:port` presents, or None
    when it cannot be read (the server is gone, it does not speak TLS)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, ValueError):
        return None
    if not der:
        return None
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def pin_advice(host: str, port: int, pinned: str | None) -> str:
    """What the server presented and how to pin it, for the end of a TLS error line."""
    seen = presented_fingerprint(host, port)
    if seen is None:
        return "the certificate it presented could not be read"
    check = ("check it on the node (`pvenode cert info`, or `openssl x509 -noout -fingerprint -sha256 "
             "-in /etc/pve/local/pve-ssl.pem`)")
    if pinned:
        return (f"the server presented SHA-256 fingerprint {seen}, the stack pins {pinned.upper()}; if the node's "
                f"certificate was renewed, {check} and update connection.api.fingerprint")
    return (f"the server presented SHA-256 fingerprint {seen}; {check}, then pin it with "
            f'connection.api.fingerprint: "{seen}" (or give the cluster CA, /etc/pve/pve-root-ca.pem, '
            "as connection.api.ca_file)")


__all__ = ["pin_advice", "presented_fingerprint"]
