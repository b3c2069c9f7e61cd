"""The embedded cluster's decisions: port choice, a directory the server user can enter, its status."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gis.db.cluster import EmbeddedCluster, _next_free_port, _server_can_enter, redact_url
from gis.settings import Settings


def test_a_taken_port_is_skipped() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _next_free_port(port) != port


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can enter (pytest's own tmp_path sits under a private one when run as root)."""
    path = Path(tempfile.mkdtemp(prefix="gridmap-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_private_directories_are_detected_for_the_server_user(open_dir: Path) -> None:
    private = open_dir / "private"
    (private / "checkout").mkdir(parents=True)
    private.chmod(0o700)
    # Only root hands the server to the postgres user; anyone else runs it themselves.
    assert _server_can_enter(private / "checkout" / ".gridmap") is (os.geteuid() != 0)
    private.chmod(0o755)
    assert _server_can_enter(private / "checkout" / ".gridmap")


def test_cluster_moves_out_of_a_private_home(open_dir: Path) -> None:
    private = open_dir / "home"
    private.mkdir()
    private.chmod(0o700)
    moved = EmbeddedCluster(Settings(home=private / ".gridmap"))._base_dir()
    if os.geteuid() == 0:
        assert str(moved).startswith("/var/tmp/gridmap-")
    else:
        assert moved == private / ".gridmap"
    assert EmbeddedCluster(Settings(home=open_dir / "open" / ".gridmap"))._base_dir() == open_dir / "open" / ".gridmap"


def test_passwords_never_printed() -> None:
    assert (
        redact_url("postgresql+psycopg://grid:s3cret@db:5432/gridmap")
        == "postgresql+psycopg://grid:***@db:5432/gridmap"
    )


def test_db_status_describes_the_embedded_cluster(engine) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRIDMAP_DATABASE_URL"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gridmap"), "db", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "embedded cluster: running" in done.stdout and "data directory" in done.stdout
    assert "POSTGIS=" in done.stdout
    # The app connects as the cluster's app role, never as the superuser.
    assert "app role: gridmap_app" in done.stdout and "warning" not in done.stdout
    assert "gridmap_app@" in done.stdout and "passfile=" in done.stdout
