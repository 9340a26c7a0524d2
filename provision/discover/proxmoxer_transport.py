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
from urllib3.exceptions import InsecureRequestWarning, MaxRetryError, NameResolutionError, NewConnectionError

from provision.discover.endpoint import Endpoint, pin_digest
from provision.discover.errors import ConnectError, HttpStatusError, RetryableError, TlsError
from provision.discover.presented import pin_advice


class ProxmoxerTransport:
    """GETs through proxmoxer's HTTPS backend with token auth."""

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

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        where = self.endpoint.describe()
        session: requests.Session = self.api._store["session"]
        url = f"{self.api._store['base_url']}/{path.lstrip('/')}"
        try:
            resp = session.request("GET", url, params=params or None)
            if resp.status_code >= 400:
                # PVE puts the reason in the envelope's `message` (proxmoxer drops it)
                try:
                    message = str(resp.json().get("message") or resp.reason)
                except ValueError:
                    message = str(resp.reason)
                raise HttpStatusError(resp.status_code, message.strip())
            return resp.json().get("data")
        except requests.exceptions.SSLError as exc:
            why = "certificate fingerprint does not match the pinned one" if "ingerprint" in str(exc) else \
                "server certificate did not verify"
            advice = pin_advice(self.endpoint.host, self.endpoint.port, self.endpoint.fingerprint)
            raise TlsError(f"TLS error talking to {where}: {why}; {advice}") from None
        except requests.exceptions.Timeout:
            raise RetryableError(f"timeout talking to {where}") from None
        except requests.exceptions.ConnectionError as exc:
            reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
            if isinstance(reason, NameResolutionError):
                raise ConnectError(f"cannot resolve {self.endpoint.host}") from None
            if isinstance(reason, NewConnectionError):
                raise ConnectError(f"cannot connect to {where}: connection refused or no route") from None
            raise RetryableError(f"connection to {where} dropped") from None


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
