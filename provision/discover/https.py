"""GETs to the PVE API over the standard library's HTTPS client, with kept-alive connections.

Discovery sends about 120 GETs at 32 nodes, 32 at a time. Through requests and
proxmoxer each one cost ~2-3 ms of client CPU (and importing them ~0.15 s of every
`provision plan`); `http.client` on a pool of persistent TLS connections costs a
fraction of that, so the client is not what a no-op plan waits for (issue #17,
docs/bench.md). The trust rules are the endpoint's (provision.discover.endpoint): the
CA file, else the system store; a pinned SHA-256 fingerprint is compared with the
certificate the server presented right after the handshake, before a request (and so
the token) is sent; `insecure` verifies nothing. Failures are the typed errors the
retrying `ApiClient` understands, worded as before. Unlike requests, no proxy from
`HTTPS_PROXY` is used: the token goes to the cluster's API and nowhere else.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import threading
from typing import Any
from urllib.parse import quote, urlencode

from provision.discover.endpoint import Endpoint, pin_digest
from provision.discover.errors import ConnectError, HttpStatusError, RetryableError, TlsError
from provision.discover.presented import pin_advice

API_PREFIX = "/api2/json"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
"""What a kept-alive connection the server has closed meanwhile raises on reuse."""


class _PinMismatch(ssl.SSLError):
    """The server's certificate is not the pinned one (raised before anything is sent)."""


def tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    """The endpoint's trust as an SSL context: its CA file, the system store, or (for a pin
    or `insecure`) no chain check at all (the pin is checked by `_Connection.connect`)."""
    if endpoint.insecure or endpoint.fingerprint:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=endpoint.ca_file)


class _Connection(http.client.HTTPSConnection):
    """One kept-alive HTTPS connection; with a pin, the handshake is followed by the check."""

    def __init__(self, endpoint: Endpoint, context: ssl.SSLContext, pin: str | None, timeout: float) -> None:
        super().__init__(endpoint.host, endpoint.port, context=context, timeout=timeout)
        self._pin = pin

    def connect(self) -> None:
        super().connect()
        if self._pin is not None:
            der = self.sock.getpeercert(binary_form=True) if isinstance(self.sock, ssl.SSLSocket) else None
            if not der or hashlib.sha256(der).hexdigest() != self._pin:
                self.close()
                raise _PinMismatch("certificate fingerprint does not match")


class HttpsTransport:
    """GET `path` → the `data` of PVE's answer; raises HttpStatusError or a DiscoveryError.

    Thread-safe: each call takes an idle connection from the pool (or opens one) and
    puts it back after a complete answer, so at most as many connections exist as calls
    ever ran at once. `close()` closes the idle ones."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._context = tls_context(endpoint)
        self._pin = pin_digest(endpoint.fingerprint) if endpoint.fingerprint and not endpoint.insecure else None
        self._headers = {"Authorization": f"PVEAPIToken={endpoint.token_id}={endpoint.secret}",
                         "Accept": "application/json"}
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return _Connection(self.endpoint, self._context, self._pin, self.timeout), False

    def _exchange(self, target: str) -> tuple[int, str, bytes]:
        """One request and its whole answer; a kept-alive connection the server closed in
        the meantime is replaced once (no answer was lost: none had started)."""
        conn, reused = self._take()
        try:
            try:
                conn.request("GET", target, headers=self._headers)
                resp = conn.getresponse()
            except _STALE:
                conn.close()
                if not reused:
                    raise
                conn, reused = _Connection(self.endpoint, self._context, self._pin, self.timeout), False
                conn.request("GET", target, headers=self._headers)
                resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return resp.status, resp.reason, body

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        target = API_PREFIX + quote(path, safe="/:@!$&'()*+,;=-._~%") + (f"?{urlencode(params)}" if params else "")
        where = self.endpoint.describe()
        try:
            status, reason, body = self._exchange(target)
        except _PinMismatch:
            raise self._tls_error("certificate fingerprint does not match the pinned one") from None
        except ssl.SSLError:
            raise self._tls_error("server certificate did not verify") from None
        except TimeoutError:
            raise RetryableError(f"timeout talking to {where}") from None
        except socket.gaierror:
            raise ConnectError(f"cannot resolve {self.endpoint.host}") from None
        except _STALE:
            raise RetryableError(f"connection to {where} dropped") from None
        except OSError:
            raise ConnectError(f"cannot connect to {where}: connection refused or no route") from None
        except http.client.HTTPException:
            raise RetryableError(f"connection to {where} dropped") from None
        if status >= 400:
            raise HttpStatusError(status, _message(body, reason))
        try:
            return json.loads(body).get("data")
        except (ValueError, AttributeError):
            raise RetryableError(f"{where} answered GET {path} with something that is not PVE's JSON") from None

    def _tls_error(self, why: str) -> TlsError:
        advice = pin_advice(self.endpoint.host, self.endpoint.port, self.endpoint.fingerprint)
        return TlsError(f"TLS error talking to {self.endpoint.describe()}: {why}; {advice}")


def _message(body: bytes, reason: str) -> str:
    """PVE's reason for an error answer: the envelope's `message`, else the status line's."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    return str(message or reason).strip()


__all__ = ["HttpsTransport", "tls_context"]
