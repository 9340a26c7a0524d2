"""The PVE API through proxmoxer's session, for the calls that write (apply's pool lock).

Discovery reads through `provision.discover.https`; this transport stays for the code
that wants proxmoxer's resource API (`ProxmoxerTransport(endpoint).api.pools.post(...)`),
with the same trust rules (CA file, system store, pinned fingerprint, `insecure`). It
imports requests, so it is imported only by the commands that use it.
"""

from __future__ import annotations

import warnings
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from provision.discover.endpoint import Endpoint, pin_digest


class ProxmoxerTransport:
    """proxmoxer's API object (`.api`) with token auth and the endpoint's trust; reads go
    through `provision.discover.https`, so this has no GET path of its own."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        from proxmoxer import ProxmoxAPI

        self.endpoint = endpoint
        verify: str | bool = True
        if endpoint.insecure:
            verify = False
            warnings.simplefilter("ignore", InsecureRequestWarning)
        elif endpoint.fingerprint:
            verify = False  # the adapter below pins the certificate instead
        elif endpoint.ca_file:
            verify = endpoint.ca_file
        self.api = ProxmoxAPI(
            endpoint.host, port=endpoint.port, user=endpoint.user, token_name=endpoint.token_name,
            token_value=endpoint.secret, verify_ssl=verify, timeout=timeout,
        )
        session: requests.Session = self.api._store["session"]
        if endpoint.fingerprint and not endpoint.insecure:
            session.mount("https://", FingerprintAdapter(endpoint.fingerprint))
        else:
            session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=16))


class FingerprintAdapter(HTTPAdapter):
    """Pins the server certificate by its SHA-256 fingerprint.

    urllib3 checks `assert_fingerprint` against the DER certificate the peer sent,
    during the handshake, before any request bytes (and the token) leave. The chain
    is not validated (a pinned self-signed node certificate has no chain), the
    pin is: a different certificate fails with an SSL error.
    """

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = pin_digest(fingerprint)
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The chain is deliberately not verified; assert_fingerprint does the checking.
        super().cert_verify(conn, url, False, cert)  # type: ignore[no-untyped-call]


__all__ = ["FingerprintAdapter", "ProxmoxerTransport"]
