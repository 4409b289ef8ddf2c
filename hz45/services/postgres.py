"""PostgreSQL from Debian's packages, the storage FerretDB runs on, under run/postgres.

FerretDB's SQLite backend (its 1.x default for embedded use) deadlocks under this product's load:
once its connection pool is held by unfinished cursors every command waits for ever. Its
PostgreSQL backend is the production one, so the project starts a private PostgreSQL for it: own
data folder, socket and port, listening on 127.0.0.1 only, run as Debian's `postgres` user
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import shutil
import subprocess
from pathlib import Path

from hz45.errors import ServiceUnavailable
from hz45.services.base import Service
from hz45.services.process import run_step

OS_USER = "postgres"


def _bin(tool: str) -> str | None:
    """Debian keeps the server's tools under /usr/lib/postgresql/<major>/bin; take the newest."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[4]))
    return found[-1] if found else None


class Postgres(Service):
    name = "postgres"
    start_timeout_s = 60.0
    os_user = OS_USER

    @property
    def pg_home(self) -> Path:
        """Where the server's own files live: run/postgres when the `postgres` account can reach
        it, else a folder named after it under /var/tmp (a checkout under /root, say, is closed
        to other accounts). Logs and the PID file stay in run/postgres either way."""
        if all(p.stat().st_mode & stat.S_IXOTH for p in self.home.parents if p.exists()):
            return self.home
        return Path("/var/tmp/hz45-postgres") / hashlib.sha1(str(self.home).encode()).hexdigest()[:12]

    @property
    def datadir(self) -> Path:
        return self.pg_home / "data"

    def prepare(self) -> None:
        if not _bin("postgres"):
            env = {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
            run_step(["apt-get", "update", "-q"], self.proc.log_file, "apt-get update", env=env)
            run_step(["apt-get", "install", "-y", "-q", "postgresql"], self.proc.log_file,
                     "apt-get install postgresql", env=env)
        self.home.mkdir(parents=True, exist_ok=True)
        self.pg_home.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.pg_home, OS_USER, OS_USER)
        if not (self.datadir / "PG_VERSION").exists():
            pwfile = self.pg_home / "initdb.pw"
            pwfile.write_text(self.conf.password + "\n")
            shutil.chown(pwfile, OS_USER, OS_USER)
            try:
                run_step(["runuser", "-u", OS_USER, "--", _bin("initdb"), "-D", str(self.datadir),
                          "-U", self.conf.user, f"--pwfile={pwfile}", "--auth-local=peer",
                          "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"],
                         self.proc.log_file, "initdb")
            finally:
                pwfile.unlink(missing_ok=True)

    def argv(self) -> list[str]:
        return [
            _bin("postgres"), "-D", str(self.datadir),
            "-c", f"listen_addresses={self.host}", "-p", str(self.port),
            "-c", f"unix_socket_directories={self.pg_home}",
            # Names the run folder on the command line, which is how `hz45.services` knows the
            # process is ours when the data folder lives outside it.
            "-c", f"cluster_name=hz45:{self.home}",
            # Sized to share 2 cores and a few GiB with Spark, Ray and Kafka.
            "-c", "shared_buffers=128MB", "-c", "max_connections=200",
            # A lost last transaction after a crash is acceptable for a local development store.
            "-c", "synchronous_commit=off",
        ]

    def _psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [_bin("psql") or "psql", "-h", self.host, "-p", str(self.port), "-U", self.conf.user,
             "-d", database, "-tAc", sql],
            capture_output=True, text=True, timeout=10,
            env={**os.environ, "PGPASSWORD": self.conf.password, "PGCONNECT_TIMEOUT": "3"},
        )
        if done.returncode != 0:
            raise ServiceUnavailable(f"postgres: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no answer'}")
        return done.stdout.strip()

    def after_start(self) -> None:
        self.proc.wait_healthy(lambda: self._psql("select 1"), self.start_timeout_s)
        if self._psql(f"select 1 from pg_database where datname = '{self.conf.database}'") != "1":
            self._psql(f'create database "{self.conf.database}"')

    def check(self) -> None:
        if self._psql("select 1", self.conf.database) != "1":
            raise ServiceUnavailable("postgres: `select 1` gave no row")
