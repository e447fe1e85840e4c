"""A throwaway PostgreSQL server for tests: Debian's ``postgresql`` package (initdb + pg_ctl from
/usr/lib/postgresql/*/bin), a data folder and socket in a temp folder, 127.0.0.1 on a free port,
``trust`` authentication, ``fsync=off``. initdb refuses to run as root, so as root the server runs as
the ``postgres`` user (runuser). :func:`start` returns None with the reason when it cannot start."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    folder: Path
    bin: Path
    port: int
    as_user: list[str]  # the command prefix that runs a server binary as its owner

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> tuple[Server | None, str]:
    """Start a server; (None, why) when there is no PostgreSQL here or it does not start."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        return None, "PostgreSQL is not installed (apt-get install postgresql; setup.sh does it)"
    bin_dir = Path(found[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no 'postgres' user to run the server as (initdb refuses root)"
        if not runuser:
            return None, "running as root without runuser to start the server as 'postgres' (initdb refuses root)"
        as_user = [runuser, "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="facelens-pg-"))
    if as_user:
        shutil.chown(folder, "postgres")
    port = _free_port()
    server = Server(folder, bin_dir, port, as_user)
    init = subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"initdb failed: {(init.stderr or init.stdout).strip()[-300:]}"
    opts = f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run = subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            opts,
            "start",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0:
        log = (folder / "log").read_text(errors="replace")[-300:] if (folder / "log").exists() else run.stderr
        server.stop()
        return None, f"pg_ctl could not start the server: {log.strip()}"
    return server, ""
