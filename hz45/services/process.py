"""Start, watch and stop one local server as a detached process with a PID file and a log.

Every server lives in its own folder under `services.run_dir` (run/<name>/): its PID file, its
log and its data. A PID alone is not trusted (PIDs are reused): a process counts as ours only if
its command line mentions that folder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hz45.errors import ServiceUnavailable

# Kafka's controlled shutdown and InnoDB's flush can take a while on a busy 2-core machine.
STOP_GRACE_S = 45.0
POLL_S = 0.5


class Proc:
    """The files of one server: run/<name>/{<name>.pid, <name>.log}."""

    def __init__(self, name: str, home: Path, os_user: str | None = None):
        self.name = name
        self.home = home
        self.os_user = os_user
        self.pid_file = home / f"{name}.pid"
        self.log_file = home / f"{name}.log"

    def pid(self) -> int | None:
        """The PID of our running server, or None (stale PID files are removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid) and str(self.home) in _cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              niceness: int = 0) -> int:
        """Start argv detached (own session, so a Ctrl-C in the caller does not reach it), at
        `niceness` (every thread of the server inherits it)."""
        self.home.mkdir(parents=True, exist_ok=True)
        if niceness:
            argv = ["nice", "-n", str(niceness), *argv]
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.home,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                user=self.os_user,
                group=self.os_user,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        # Popen returns once exec has begun, but the kernel fills /proc/<pid>/cmdline a moment
        # later; until then pid() would take the new server for a stranger.
        deadline = time.monotonic() + 5.0
        while str(self.home) not in _cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc.pid

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """TERM, then KILL after the grace period. False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_healthy(self, check: Callable[[], None], timeout_s: float) -> None:
        """Poll `check` (a real query) until it passes; fail with one line that points at the log."""
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ServiceUnavailable(
                    f"{self.name} exited during start-up", f"see {self.log_file}: {self.last_log_line()}"
                )
            try:
                check()
                return
            except Exception as exc:  # any failure of the health query means "not yet"
                last = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            time.sleep(POLL_S)
        raise ServiceUnavailable(
            f"{self.name} did not answer within {timeout_s:.0f}s ({last})", f"see {self.log_file}"
        )

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln.strip()]
        except FileNotFoundError:
            return "no log"
        return lines[-1][:200] if lines else "empty log"


def run_step(argv: list[str], log_file: Path, what: str, env: dict[str, str] | None = None,
             cwd: Path | None = None, timeout_s: float = 1800) -> None:
    """Run a set-up command (install, fetch, build), its output appended to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout_s).returncode
        except FileNotFoundError:
            raise ServiceUnavailable(f"{what} failed: {argv[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise ServiceUnavailable(f"{what} took over {timeout_s:.0f}s", f"see {log_file}") from None
    if rc != 0:
        raise ServiceUnavailable(f"{what} failed (exit {rc})", f"see {log_file}")


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """One `up`/`down` at a time per run folder, so two callers never start a server twice."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "services.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by its parent) is dead."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _signal_group(pid: int, sig: int) -> None:
    # Each server is started as the leader of its own session, so its group holds it and
    # whatever it forked, and nothing else.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
