"""Where batch jobs run in tests (gis/batch.py): in process, a LocalCluster of two worker processes, and a real
`dask scheduler` with two `dask worker` processes on loopback, started here. Tests that must give identical results
everywhere take the `batch_place` fixture, parametrised over all three."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gis import batch

PLACES = ("inline", "local:2", "scheduler")


def _dask(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), *args]


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded worker processes, all on 127.0.0.1."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    # The workers import gis/ (installed) and, for test helpers, this checkout.
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    file = folder / "scheduler.json"
    common = ("--no-dashboard",)
    processes = [
        subprocess.Popen(
            _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(file), *common),
            stdout=subprocess.DEVNULL,
            stderr=(folder / "scheduler.log").open("w"),
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {(folder / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        for n in range(2):
            processes.append(
                subprocess.Popen(
                    _dask(
                        "worker",
                        "--scheduler-file",
                        str(file),
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        *common,
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=(folder / f"worker{n}.log").open("w"),
                    env=env,
                )
            )
        with Client(scheduler_file=str(file), set_as_default=False, timeout="60s") as probe:
            probe.wait_for_workers(2, timeout=120)
            address = str(probe.scheduler.address)
        yield address
    finally:
        batch.close()
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(params=PLACES)
def batch_place(request: pytest.FixtureRequest) -> str:
    """`inline`, `local:2` or the address of the loopback scheduler: pass as `where=` to the job."""
    if request.param == "scheduler":
        return str(request.getfixturevalue("dask_scheduler"))
    return str(request.param)
