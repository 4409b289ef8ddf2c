"""MariaDB from Debian's packages, with its own data folder, socket and port under run/mariadb.

It never reads /etc/mysql (--no-defaults), so the packaged server's settings and port 3306 play
no part. The server's root account is reached only through the private socket; the product uses
the user and password from configuration over TCP.
"""

from __future__ import annotations

import os
import shutil

import pymysql

from hz45.errors import ServiceUnavailable
from hz45.services.base import Service
from hz45.services.process import run_step

SERVER = "mariadbd"
INSTALL_DB = "mariadb-install-db"
# Where Debian puts the server; a login shell of a non-root user may lack /usr/sbin on PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])


class MariaDb(Service):
    name = "mariadb"
    start_timeout_s = 90.0

    @property
    def datadir(self):
        return self.home / "data"

    @property
    def socket(self):
        return self.home / "mariadb.sock"

    def prepare(self) -> None:
        if not shutil.which(SERVER, path=SEARCH_PATH):
            self._install()
        if not (self.datadir / "mysql").is_dir():
            self.datadir.mkdir(parents=True, exist_ok=True)
            run_step(
                [shutil.which(INSTALL_DB, path=SEARCH_PATH) or INSTALL_DB, "--no-defaults",
                 f"--datadir={self.datadir}", "--auth-root-authentication-method=socket",
                 "--skip-test-db", *self._user_flag()],
                self.proc.log_file, "mariadb-install-db",
            )

    def _install(self) -> None:
        # The package's own service stays down: the image's policy-rc.d (or RUNLEVEL=1 below)
        # stops invoke-rc.d from starting it, and our server does not use its port anyway.
        env = {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
        run_step(["apt-get", "update", "-q"], self.proc.log_file, "apt-get update", env=env)
        run_step(["apt-get", "install", "-y", "-q", "mariadb-server"], self.proc.log_file,
                 "apt-get install mariadb-server", env=env)

    def argv(self) -> list[str]:
        return [
            shutil.which(SERVER, path=SEARCH_PATH) or SERVER,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.home / 'mariadbd.pid'}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Modest sizes: the server shares 2 cores and a few GiB with Spark, Ray and Kafka.
            "--innodb-buffer-pool-size=256M",
            "--innodb-log-file-size=64M",
            "--key-buffer-size=8M",
            "--max-connections=200",
            "--performance-schema=OFF",
            *self._user_flag(),
        ]

    def check(self) -> None:
        conn = pymysql.connect(host=self.host, port=self.port, user=self.conf.user, password=self.conf.password,
                               database=self.conf.database, connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                if cur.fetchone() != (1,):
                    raise ServiceUnavailable("mariadb answered SELECT 1 wrongly")
        finally:
            conn.close()

    def after_start(self) -> None:
        """Create the database and the user (idempotent; the password follows configuration)."""
        self.proc.wait_healthy(self._root_ping, self.start_timeout_s)
        db, user = self.conf.database, self.conf.user
        conn = pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=5, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, self.conf.password))
                cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, self.conf.password))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO %s@'%%'", (user,))
                # Tests and benchmarks use scratch databases named <db>_<something>.
                cur.execute(f"GRANT ALL PRIVILEGES ON `{db}\\_%%`.* TO %s@'%%'", (user,))
        finally:
            conn.close()

    def _root_ping(self) -> None:
        pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=3).close()

    @staticmethod
    def _user_flag() -> list[str]:
        # mariadbd refuses to run as root unless told to; as any other user the flag is not needed.
        return ["--user=root"] if os.geteuid() == 0 else []
