"""A counting, retrying GET client (over `provision.discover.https`).

Discovery reads a fixed set of endpoints once each (per cluster, or per node),
never one per object. The client counts every HTTP request it sends (retries
included) so tests can assert that the count depends on the node count only.
Failures are typed: 5xx/timeouts/resets are retried with exponential backoff,
401/403/TLS/refused connections stop at once with a one-line cause.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from provision.discover.endpoint import Endpoint
from provision.discover.errors import ApiError, AuthError, HttpStatusError, RetryableError, UnavailableError
from provision.discover.https import HttpsTransport


class Transport(Protocol):
    """One GET: returns the `data` payload or raises HttpStatusError/DiscoveryError."""

    def __call__(self, path: str, params: dict[str, Any]) -> Any: ...


# Statuses that may go away on their own: PVE's generic 500, gateway errors and
# 595/596 (pveproxy could not reach the node it proxies to).
RETRY_STATUS = frozenset({500, 502, 503, 504, 595, 596})
# Messages (lower case) with which PVE says "not there" on a 500.
ABSENT = (
    "not initialized", "not installed", "does not exist", "no such file",  # Ceph not set up
    "not part of a cluster", "no cluster", "corosync config",  # standalone node
    "migrated to rules",  # PVE 9 HA groups endpoint
    "hostname lookup", "not reachable", "no such node",  # a node the answering node cannot reach
)


class ApiClient:
    """Thread-safe GET client with bounded retries and a request counter."""

    def __init__(
        self,
        transport: Transport,
        *,
        attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        label: str = "the API",
    ) -> None:
        self.transport = transport
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.label = label
        self._lock = threading.Lock()
        self._abandoned = threading.Event()
        self.requests = 0
        self.by_path: Counter[str] = Counter()

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint, **kwargs: Any) -> ApiClient:
        return cls(HttpsTransport(endpoint), label=endpoint.describe(), **kwargs)

    def abandon(self) -> None:
        """Send nothing more: a GET not yet sent, or about to be retried, fails at once.
        For a discovery whose answers nobody will read (the stack did not validate), so
        that the command does not wait for retries against a slow or unreachable API."""
        self._abandoned.set()

    def _count(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_path[path] += 1

    def get(self, path: str, params: dict[str, Any] | None = None, *, optional: bool = False,
            attempts: int | None = None) -> Any:
        """GET `path`. With `optional`, an answer that says "this does not exist
        here" means None: a 4xx (not 401/403), 501 (no such method on this PVE
        version) or a 500 whose message is one of `ABSENT` (Ceph not initialised,
        not clustered, HA groups migrated, unknown node). Any other 500 is a
        server failure and is retried like other 5xx, never taken for "absent"."""
        params = dict(params or {})
        delay = self.backoff
        last = ""
        tries = attempts or self.attempts
        for attempt in range(1, tries + 1):
            if self._abandoned.is_set():
                raise UnavailableError(f"GET {path} not sent: the discovery was abandoned")
            self._count(path)
            try:
                return self.transport(path, params)
            except HttpStatusError as exc:
                if exc.status == 401:
                    raise AuthError(f"authentication failed at {self.label} (HTTP 401): the API token was rejected") \
                        from None
                if exc.status == 403:
                    raise AuthError(f"permission denied for GET {path} (HTTP 403): the token needs read access "
                                    "(PVEAuditor on /)") from None
                if optional and (400 <= exc.status < 500 or exc.status == 501 or (
                        exc.status in (500, 595) and any(m in exc.message.lower() for m in ABSENT))):
                    return None
                if exc.status not in RETRY_STATUS:
                    raise ApiError(path, exc.status, exc.message) from None
                last = f"HTTP {exc.status}: {exc.message}"
            except RetryableError as exc:
                last = str(exc)
            if attempt < tries:
                self.sleep(delay)
                delay *= 2
        raise UnavailableError(f"GET {path} failed after {tries} attempt(s): {last}")


__all__ = ["ABSENT", "RETRY_STATUS", "ApiClient", "HttpStatusError", "Transport"]
