"""FerretDB 1.x (MongoDB wire protocol) under run/mongo, storing into the project's PostgreSQL
(services.mongo.backend: postgresql, the default) or into SQLite files under run/mongo/data.

Built from the Go module proxy into .cache/ferretdb/<version>/bin. The released module lacks the
build/version/version.txt that FerretDB's own release tooling generates (a plain
`go install .../cmd/ferretdb@version` binary panics at start for that reason), so the module source
is downloaded with `go mod download`, copied to a writable folder, given that file, and built
there. Go's module and build caches live under .cache/go so a clean clone rebuilds nothing twice.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from pymongo import MongoClient

from hz45.services.base import Service
from hz45.services.process import run_step

MODULE = "github.com/FerretDB/FerretDB"


class FerretDb(Service):
    name = "mongo"
    start_timeout_s = 60.0

    @property
    def build_dir(self):
        return self.cache / "ferretdb" / self.conf.ferretdb_version

    @property
    def binary(self):
        return self.build_dir / "bin" / "ferretdb"

    def _go_env(self) -> dict[str, str]:
        go = self.cache / "go"
        return {
            "GOPATH": str(go),
            "GOMODCACHE": str(go / "pkg" / "mod"),
            "GOCACHE": str(go / "build"),
            # -modcacherw: module folders stay writable, so the copy below can take version.txt
            # and `rm -rf .cache` works.
            "GOFLAGS": "-buildvcs=false -modcacherw",
            # Build with the installed toolchain; never download another one.
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
        }

    def prepare(self) -> None:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "state").mkdir(parents=True, exist_ok=True)
        if not self.binary.exists():
            self._build()

    def _build(self) -> None:
        version = self.conf.ferretdb_version
        run_step(["go", "mod", "download", f"{MODULE}@{version}"], self.proc.log_file,
                 f"download FerretDB {version}", env=self._go_env(), cwd=self.cache)
        src = self.build_dir / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(self._module_dir(version), src)
        (src / "build" / "version" / "version.txt").write_text(f"{version}\n")
        partial = self.binary.with_name("ferretdb.partial")
        run_step(["go", "build", "-trimpath", "-o", str(partial), "./cmd/ferretdb"], self.proc.log_file,
                 f"build FerretDB {version}", env=self._go_env(), cwd=src)
        partial.rename(self.binary)
        shutil.rmtree(src)

    def _module_dir(self, version: str) -> Path:
        # Go's module cache escapes capitals as "!" + lower case (FerretDB -> !ferret!d!b).
        escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group().lower(), MODULE)
        return Path(self._go_env()["GOMODCACHE"]) / f"{escaped}@{version}"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            *self._backend_flags(),
            f"--state-dir={self.home / 'state'}",
            f"--listen-addr={self.address}",
            # No HTTP debug listener (it would take port 8088) and no telemetry.
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=info",
            f"--test-batch-size={self.conf.insert_batch}",
        ]

    def _backend_flags(self) -> list[str]:
        if self.conf.backend == "sqlite":
            return ["--handler=sqlite", f"--sqlite-url=file:{self.home / 'data'}/"]
        pg = self.settings.services.postgres
        return ["--handler=pg",
                f"--postgresql-url=postgres://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{pg.database}"]

    def env(self) -> dict[str, str]:
        return {"FERRETDB_TELEMETRY": "disable", "DO_NOT_TRACK": "1"}

    def check(self) -> None:
        # socketTimeoutMS too: a server that accepts connections but stops answering must fail
        # the check, not hold the services lock for ever.
        client = MongoClient(host=self.host, port=self.port, serverSelectionTimeoutMS=3000,
                             connectTimeoutMS=3000, socketTimeoutMS=5000, directConnection=True)
        try:
            client.admin.command("ping")
        finally:
            client.close()
