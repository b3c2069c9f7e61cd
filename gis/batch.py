"""Batch jobs across processes and machines on dask.distributed: one function mapped over many independent parts.

Where the work runs (`where`, else GRIDMAP_DASK_SCHEDULER):
- `"inline"`: here, one part after another — the single-process path, and what a job of one part always takes;
- unset or `"local"`: an in-process LocalCluster of worker processes sized to the machine (`GRIDMAP_BATCH_WORKERS`,
  default one per core; `"local:N"` for N), started on first use and kept for the life of the process;
- `"tcp://host:8786"`: that scheduler, i.e. a real cluster of `dask worker` processes on any number of machines.

Parts travel by pickle: the function must be importable by name (a module-level function of gis/) and its
arguments plain data (frames, arrays, numbers) — never a session or connection. Workers compute; the caller
writes the results in its own single transaction, so a job that fails anywhere writes nothing.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gis.settings import get_settings

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

INLINE = "inline"

_clients: dict[str, Client] = {}
_lock = threading.Lock()


def workers_wanted() -> int:
    """Worker processes of the local cluster: GRIDMAP_BATCH_WORKERS, else one per core."""
    return get_settings().batch_workers or os.cpu_count() or 1


def resolve(where: str | None) -> str:
    """`inline`, `local:N` (a LocalCluster of N processes here) or a scheduler address, from the argument and then
    the settings."""
    chosen = where or get_settings().dask_scheduler
    if chosen in (None, "", "local"):
        chosen = f"local:{workers_wanted()}"
    return INLINE if chosen in ("local:0", "local:1") else chosen


def client(where: str) -> Client:
    """The dask client for `local:N` or a scheduler address, created once per process."""
    import dask.config
    from distributed import Client, LocalCluster

    with _lock:
        found = _clients.get(where)
        if found is not None and found.status == "running":
            return found
        if where.startswith("local:"):
            # The workers' statistical profiler (a stack sample every 10 ms) slowed units by a fifth; no dashboard
            # shows it here. (Workers of an outside scheduler keep their own configuration.)
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(
                    n_workers=int(where.removeprefix("local:")),
                    threads_per_worker=1,  # the work is numpy/shapely/GEOS: processes, not threads, use the cores
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,  # errors only: the CLI's own output stays readable
                )
            found = Client(cluster, set_as_default=False)
        else:
            found = Client(where, set_as_default=False, timeout="30s")
        _clients[where] = found
        return found


def map_parts(
    function: Callable[..., R],
    parts: Sequence[T],
    *args: Any,
    where: str | None = None,
) -> list[R]:
    """`[function(part, *args) for part in parts]`, in order, wherever `where` says (see the module).

    An exception in any part is raised here as itself, after which nothing of the job is kept."""
    place = resolve(where)
    if place == INLINE or len(parts) <= 1:
        return [function(part, *args) for part in parts]
    dask = client(place)
    shared = [dask.scatter(arg, broadcast=True) if _large(arg) else arg for arg in args]
    # Parts go to the workers as data, not inside the task graph (which the scheduler would unpack and hold).
    sent = dask.scatter(list(parts), hash=False)
    futures = dask.map(function, sent, *[[arg] * len(parts) for arg in shared], pure=False)
    try:
        return list(dask.gather(futures))
    finally:
        for future in [*futures, *sent]:
            future.release()


def _large(value: Any) -> bool:
    """Arguments worth sending to every worker once rather than with every part (frames, arrays)."""
    return hasattr(value, "__len__") and not isinstance(value, str | bytes) and len(value) > 1_000


def close() -> None:
    """Close the clients (and the local cluster) this process made."""
    with _lock:
        for found in _clients.values():
            cluster = getattr(found, "cluster", None)
            found.close()
            if cluster is not None:
                cluster.close()
        _clients.clear()


atexit.register(close)
