"""The lab's PVE REST API: HTTPS on 127.0.0.1, ``/api2/json/...``, token auth, fault injection.

Runs detached (``lab up`` starts it in a new session, handing over already listening
sockets so the ports are known before the process starts). Besides serving requests it
runs the HA CRM loop as an asyncio background task, as pve-ha-crm runs beside pveproxy.

Every node has its own port, which stands for that node's address: a request there is
answered by that node, with that node's /etc/pve (its tokens: ``provision.lab.tokens``).
The lab's main port answers as the first powered node in a quorate partition, like a
cluster address in front of the nodes. One lab extension: the ``PVE-Lab-Node`` request
header picks the answering node on any port (tests use it as a shortcut).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provision.lab import hamanager, pmxcfs, powerdown, real, tokens, topology
from provision.lab.ops.common import require_node
from provision.lab.paths import LabPaths
from provision.lab.registry import ApiError, Ctx, check_params, resolve, unwrap
from provision.lab.store import Store

_local = threading.local()


def _store(paths: LabPaths) -> Store:
    """One SQLite connection per worker thread (connections are not thread-safe)."""
    st: Store | None = getattr(_local, "store", None)
    if st is None:
        st = Store(paths.db)
        _local.store = st
    return st


def _sync_real(st: Store, paths: LabPaths) -> None:
    """pmxcfs's corosync.conf hand-over to the real daemons; a lab bug here is logged,
    never turned into an API error."""
    try:
        for line in pmxcfs.sync(st, paths):
            print(f"pmxcfs: {line}", file=sys.stderr)
    except Exception:  # pragma: no cover - defensive
        import traceback

        traceback.print_exc(file=sys.stderr)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json;charset=UTF-8")


def _error(exc: ApiError) -> Response:
    body: dict[str, Any] = {"data": None, "message": exc.message.rstrip("\n") + "\n"}
    if exc.errors:
        body["errors"] = exc.errors
    return _json(exc.status, body)


def _token(request: Request) -> tuple[str, str]:
    """``Authorization: PVEAPIToken=USER@REALM!NAME=SECRET`` -> (token id, secret).

    The id is everything before the last ``=`` (pve-access-control ``AccessControl.pm``
    verify_token); no header at all is "No ticket" (pve-manager ``HTTPServer.pm``)."""
    header = request.headers.get("authorization", "")
    if not header.startswith("PVEAPIToken"):
        raise ApiError(401, "No ticket")
    value = header[len("PVEAPIToken"):].lstrip("= ").split(";", 1)[0].strip()
    token_id, eq, secret = value.rpartition("=")
    if not eq or "!" not in token_id:
        raise ApiError(401, AUTH_FAILED)
    return token_id, secret


#: pve-manager ``HTTPServer.pm`` auth_handler: every token failure (unknown user or token,
#: wrong secret) becomes this one message, sent as a 401 without a body.
AUTH_FAILED = "Authentication failed!"


class Api:
    """The ASGI handler: auth, faults, dispatch through the shared registry."""

    def __init__(self, paths: LabPaths, node_ports: dict[int, str] | None = None) -> None:
        self.paths = paths
        self.node_ports = dict(node_ports or {})
        self.rng = random.Random()
        self.rng_seed: object = None

    def _faults(self) -> tuple[float, float]:
        faults = _store(self.paths).get_meta("api_faults", {}) or {}
        key = (faults.get("seed", 0), faults.get("generation", 0))
        if key != self.rng_seed:  # every `lab faults` call restarts the seeded sequence
            self.rng_seed = key
            self.rng.seed(key[0])
        return float(faults.get("error_rate", 0.0)), float(faults.get("latency_ms", 0.0))

    def handle(self, method: str, path: str, params: dict[str, Any], token: tuple[str, str],
               node_hint: str | None) -> tuple[int, dict[str, Any] | None]:
        """One request as ``node_hint`` (or the lab's answering node) serves it; the token
        must exist in that node's /etc/pve."""
        st = _store(self.paths)
        pve = int(st.get_meta("pve_version", 8))
        try:
            topo = topology.load(st)
            node = node_hint or topo.local_node()
            if node is None or not topo.power.get(node, False):
                raise ApiError(595, "Connection refused")
            # a node removed by delnode keeps its copy of the cluster's /etc/pve, tokens included
            in_cluster_db = topo.is_member(node) or node in topo.evicted
            role = tokens.verify(st, tokens.database(node, member=in_cluster_db), *token)
            if role is None:
                return 401, None
            user = token[0].split("!", 1)[0]
            route, path_params = resolve(method, path, pve)
            _sync_real(st, self.paths)  # a corosync.conf a node wrote reaches the real daemons (--real)
            if route.write and role == "readonly":
                raise ApiError(403, "Permission check failed (/, Sys.Modify)")
            ctx = Ctx(st, self.paths, node, user)
            if route.template.startswith("/nodes/{node}"):
                require_node(ctx, path_params["node"])  # pveproxy's proxyto: reach that node first
            merged = dict(params)
            merged.update(path_params)
            check_params(route, merged, pve)
            result = route.handler(ctx, merged)
            if route.write:
                _sync_real(st, self.paths)
        except ApiError as exc:
            body: dict[str, Any] = {"data": None, "message": exc.message.rstrip("\n") + "\n"}
            if exc.errors:
                body["errors"] = exc.errors
            return exc.status, body
        except Exception as exc:  # a lab bug: answer like pveproxy would, keep serving
            import traceback

            traceback.print_exc(file=sys.stderr)
            return 500, {"data": None, "message": f"{exc}\n"}
        data, extra = unwrap(result)
        return 200, {"data": data, **extra}

    async def endpoint(self, request: Request) -> Response:
        try:
            token = _token(request)
        except ApiError:
            return Response(status_code=401)
        # one indexed row of the WAL database (microseconds, never blocked by a writer):
        # read on the event loop rather than paying a worker-thread round trip per request
        error_rate, latency = self._faults()
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if error_rate > 0 and self.rng.random() < error_rate:
            return _error(ApiError(500, "injected fault: internal server error"))
        params: dict[str, Any] = dict(request.query_params)
        if request.method in ("POST", "PUT", "DELETE"):
            ctype = request.headers.get("content-type", "")
            raw = await request.body()
            if raw and "json" in ctype:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _error(ApiError(400, "malformed JSON body"))
                if isinstance(body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list))
                                   else str(int(v)) if isinstance(v, bool) else str(v) for k, v in body.items()})
            elif raw:
                # PVE clients (proxmoxer, pvesh over HTTP) send application/x-www-form-urlencoded
                params.update(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        path = request.path_params.get("path", "")
        server = request.scope.get("server") or ("", 0)
        node = request.headers.get("pve-lab-node") or self.node_ports.get(int(server[1]))
        status, payload = await run_in_threadpool(self.handle, request.method, path, params, token, node)
        if payload is None:  # pveproxy sends a failed login as a bare 401 (AnyEvent.pm)
            return Response(status_code=status)
        return _json(status, payload)


HEARTBEAT_SECONDS = hamanager.ROUND_SECONDS
"""Real seconds between rounds of an idle lab: the CRM master's status timestamp must stay
fresh (``ha-manager status`` calls a master older than 30 s dead), as a real CRM writes it
every round of 10 s."""


class CrmSchedule:
    """When the lab's CRM runs a round.

    A round reads only the store and the clock. When the last round changed nothing but the
    master's timestamp, no other process wrote to the store since (SQLite's
    ``data_version``, which moves only with other connections' commits), and no node waits
    out a fencing delay, the next round would change nothing either: it is skipped, except
    for a heartbeat. So an idle lab sleeps, and any write (API, node CLI, ``lab fail``)
    wakes the CRM at its next tick, as fast as before. A ``--real`` lab runs every round:
    its membership comes from daemons, not from the store."""

    def __init__(self, paths: LabPaths) -> None:
        self.paths = paths
        self.store: Store | None = None  # its own connection: its commits do not count as outside writes
        self.seen_version: int | None = None
        self.busy = True
        self.last_round = 0.0

    def tick(self) -> float:
        """Run a round if one is due; the time scale for the next wait."""
        if self.store is None:
            self.store = Store(self.paths.db)
        st = self.store
        version = int(st.conn.execute("PRAGMA data_version").fetchone()[0])
        now = time.monotonic()
        due = (self.busy or version != self.seen_version or now - self.last_round >= HEARTBEAT_SECONDS
               or hamanager.waiting_on_time(st) or real.enabled(self.paths.root) or powerdown.pending(st))
        if due:
            before = st.conn.total_changes
            hamanager.crm_round(st)
            powerdown.complete(st)  # API shutdowns/reboots whose HA agent is done
            # an idle round writes one row: the master's timestamp
            self.busy = st.conn.total_changes - before > 1
            self.seen_version, self.last_round = version, now
        return float(st.get_meta("time_scale", 0.02))

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


async def crm_loop(paths: LabPaths, stop: asyncio.Event) -> None:
    """pve-ha-crm: one round every 10 s of simulated time (skipped while nothing changes:
    ``CrmSchedule``). One thread of its own runs the rounds, so the schedule's connection
    stays on it."""
    schedule = CrmSchedule(paths)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm")
    loop = asyncio.get_running_loop()
    scale = 0.02
    try:
        while not stop.is_set():
            try:
                scale = await loop.run_in_executor(worker, schedule.tick)
            except Exception as exc:  # keep the loop alive; the log shows what went wrong
                print(f"crm round failed: {exc!r}", file=sys.stderr, flush=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(hamanager.ROUND_SECONDS * scale, 0.05))
    finally:
        await loop.run_in_executor(worker, schedule.close)
        worker.shutdown(wait=False)


def make_app(paths: LabPaths, node_ports: dict[int, str] | None = None) -> Starlette:
    api = Api(paths, node_ports)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(crm_loop(paths, stop))
        paths.ready.write_text(f"{time.time()}\n")
        try:
            yield
        finally:
            stop.set()
            await task

    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(
        routes=[Route("/api2/json/{path:path}", api.endpoint, methods=methods),
                Route("/api2/json", api.endpoint, methods=methods)],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description="pve-provision lab API server")
    ap.add_argument("--lab-dir", required=True, type=Path)
    ap.add_argument("--fd", type=int, required=True, help="an already listening socket (the lab's address)")
    ap.add_argument("--node-fd", action="append", default=[], metavar="NODE=FD",
                    help="an already listening socket that is NODE's own address")
    args = ap.parse_args(argv)
    paths = LabPaths(args.lab_dir)
    sockets = [socket.socket(fileno=args.fd)]
    node_ports: dict[int, str] = {}
    for item in args.node_fd:
        node, _, fd = item.partition("=")
        sock = socket.socket(fileno=int(fd))
        node_ports[sock.getsockname()[1]] = node
        sockets.append(sock)
    config = uvicorn.Config(
        make_app(paths, node_ports),
        ssl_certfile=str(paths.cert),
        ssl_keyfile=str(paths.key),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=5,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
