"""A throw-away PostgreSQL cluster from Debian's `postgresql` package, owned by whoever started it."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class PostgresLaunchError(RuntimeError):
    """No PostgreSQL server binaries, or the cluster would not start."""


def find_bindir() -> Path:
    """The newest `/usr/lib/postgresql/<major>/bin`, else the directory of `pg_ctl` on the PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    if found is None:
        raise PostgresLaunchError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(found).resolve().parent


class LocalPostgres:
    """initdb + pg_ctl on 127.0.0.1:<port>; as root the server runs as the `postgres` user (it refuses root)."""

    def __init__(self, base_dir: Path, port: int, settings: Mapping[str, str] | None = None) -> None:
        self.base_dir = base_dir.resolve()
        self.port = port
        self.settings = dict(settings or {})
        """Server settings beyond the throw-away defaults (e.g. `shared_buffers` for a benchmark of a sized server)."""
        self.bindir = find_bindir()
        self._as_root = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresLaunchError(f"{args[0]} failed: {result.stderr[-1500:]}")

    def start(self) -> None:
        data = self.base_dir / "data"
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.base_dir, "postgres", "postgres")
        self._run("initdb", "-D", str(data), "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self._pg_ctl("start")

    def restart(self) -> None:
        """Stops the server (a clean shutdown) and starts it again on the same data."""
        self._pg_ctl("restart")

    def _pg_ctl(self, action: str) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        log = str(self.base_dir / "server.log")
        self._run("pg_ctl", "-D", str(self.base_dir / "data"), "-o", options, "-l", log, "-w", action)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.base_dir / "data"), "-m", "fast", "-w", "stop")


@contextmanager
def throwaway(prefix: str, port: int, settings: Mapping[str, str] | None = None) -> Iterator[LocalPostgres]:
    """A server started in a new directory under /tmp (its user reaches it there, not in a test's `tmp_path`),
    stopped and its directory removed on exit (a test run or a benchmark leaves no cluster of hundreds of MB behind)."""
    server = LocalPostgres(Path("/tmp") / f"{prefix}-{uuid.uuid4().hex[:8]}", port, settings)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(server.base_dir, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.base_dir, ignore_errors=True)
