"""Discovery: the live cluster (PVE REST API) -> the spec's `Cluster` model plus
`Observed` facts (identity, quorum, daemons) the planner needs.

Public surface; everything else in this package is an implementation detail.
"""

from typing import TYPE_CHECKING, Any

from provision.discover import bootstrap
from provision.discover.client import ApiClient
from provision.discover.discover import Discovery, Fetch, NodeClient, Responses, assemble, discover, fetch
from provision.discover.endpoint import Endpoint, from_connection, from_lab, from_url
from provision.discover.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectError,
    DiscoveryError,
    PermanentError,
    RetryableError,
    TlsError,
    UnavailableError,
    UnmodelledError,
)
from provision.discover.observed import MemberState, MonState, Observed, OsdState

if TYPE_CHECKING:
    from provision.discover.proxmoxer_transport import ProxmoxerTransport


def __getattr__(name: str) -> Any:
    """`ProxmoxerTransport` is imported on first use: it loads requests and proxmoxer,
    which only apply's pool lock needs, not every discovery."""
    if name == "ProxmoxerTransport":
        from provision.discover.proxmoxer_transport import ProxmoxerTransport

        return ProxmoxerTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ApiClient",
    "ApiError",
    "AuthError",
    "ConfigError",
    "ConnectError",
    "Discovery",
    "DiscoveryError",
    "Endpoint",
    "Fetch",
    "MemberState",
    "MonState",
    "NodeClient",
    "Observed",
    "OsdState",
    "PermanentError",
    "ProxmoxerTransport",
    "Responses",
    "RetryableError",
    "TlsError",
    "UnavailableError",
    "UnmodelledError",
    "assemble",
    "bootstrap",
    "discover",
    "fetch",
    "from_connection",
    "from_lab",
    "from_url",
]
