"""The lab's PVE REST API: HTTPS on 127.0.0.1, ``/api2/json/...``, token auth, fault injection.

Runs detached (``lab up`` starts it in a new session, handing over an already listening
socket so the port is known before the process starts). Besides serving requests it runs
the HA CRM loop as an asyncio background task, as pve-ha-crm runs beside pveproxy.

One lab extension: the ``PVE-Lab-Node`` request header picks the answering node (on a
real cluster you would connect to that node's own address instead).
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
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provision.lab import hamanager, pmxcfs, topology
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


class Api:
    """The ASGI handler: auth, faults, dispatch through the shared registry."""

    def __init__(self, paths: LabPaths) -> None:
        self.paths = paths
        self.tokens = {
            paths.admin_token.read_text().strip(): "admin",
            paths.readonly_token.read_text().strip(): "readonly",
        }
        self.rng = random.Random()
        self.rng_seed: object = None

    def _auth(self, request: Request) -> tuple[str, str]:
        header = request.headers.get("authorization", "")
        if not header.startswith("PVEAPIToken"):
            raise ApiError(401, "No ticket")
        value = header[len("PVEAPIToken"):].lstrip("= ").split(";", 1)[0].strip()
        role = self.tokens.get(value)
        if role is None:
            raise ApiError(401, "authentication failure")
        user = value.rsplit("=", 1)[0].split("!", 1)[0]
        return user, role

    def _faults(self) -> tuple[float, float]:
        faults = _store(self.paths).get_meta("api_faults", {}) or {}
        key = (faults.get("seed", 0), faults.get("generation", 0))
        if key != self.rng_seed:  # every `lab faults` call restarts the seeded sequence
            self.rng_seed = key
            self.rng.seed(key[0])
        return float(faults.get("error_rate", 0.0)), float(faults.get("latency_ms", 0.0))

    def handle(self, method: str, path: str, params: dict[str, Any], user: str, role: str,
               node_hint: str | None) -> tuple[int, dict[str, Any]]:
        st = _store(self.paths)
        pve = int(st.get_meta("pve_version", 8))
        try:
            route, path_params = resolve(method, path, pve)
            _sync_real(st, self.paths)  # a corosync.conf a node wrote reaches the real daemons (--real)
            if route.write and role == "readonly":
                raise ApiError(403, "Permission check failed (/, Sys.Modify)")
            topo = topology.load(st)
            node = node_hint or topo.local_node()
            if node is None or not topo.power.get(node, False):
                raise ApiError(595, "Connection refused")
            merged = dict(params)
            merged.update(path_params)
            check_params(route, merged, pve)
            result = route.handler(Ctx(st, self.paths, node, user), merged)
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
            user, role = self._auth(request)
        except ApiError as exc:
            return _error(exc)
        error_rate, latency = await run_in_threadpool(self._faults)
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
        status, payload = await run_in_threadpool(
            self.handle, request.method, path, params, user, role, request.headers.get("pve-lab-node")
        )
        return _json(status, payload)


async def crm_loop(paths: LabPaths, stop: asyncio.Event) -> None:
    """pve-ha-crm: one round every 10 s of simulated time."""
    def one_round() -> float:
        st = _store(paths)
        hamanager.crm_round(st)
        return float(st.get_meta("time_scale", 0.02))

    scale = 0.02
    while not stop.is_set():
        try:
            scale = await run_in_threadpool(one_round)
        except Exception as exc:  # keep the loop alive; the log shows what went wrong
            print(f"crm round failed: {exc!r}", file=sys.stderr, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(hamanager.ROUND_SECONDS * scale, 0.05))


def make_app(paths: LabPaths) -> Starlette:
    api = Api(paths)

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
    ap.add_argument("--fd", type=int, required=True, help="an already listening socket")
    args = ap.parse_args(argv)
    paths = LabPaths(args.lab_dir)
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        make_app(paths),
        ssl_certfile=str(paths.cert),
        ssl_keyfile=str(paths.key),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=5,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
