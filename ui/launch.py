"""Start the Streamlit server for ``facelens ui``: ``python -m facelens.ui.launch run APP [streamlit flags]``.

What this adds to ``python -m streamlit``, and why:

- Streamlit looks up the machine's external IP address over the internet (AWS's check-ip service) when
  it prints its URLs and in its CORS checks. facelens never needs it and must not leak that it runs,
  so the lookup answers "unknown" without a request.
- Upload folders of earlier servers that were killed before they could clean up (SIGKILL, power loss)
  are removed before this one starts (:func:`remove_stale_uploads`).

Everything else (address, port, usage stats, the login secret) is set by ``facelens ui`` in
:func:`facelens.agent.cli.ui.streamlit_command` and its environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from facelens.tools import settings
from facelens.tools.atomic import pid_alive
from facelens.tools.errors import ConfigError

#: upload folders are ``<tmp>/facelens-ui-<server pid>-<random>``; older versions used ``facelens-ui-<random>``
UPLOAD_PREFIX = "facelens-ui-"
_PID_DIR = re.compile(rf"^{UPLOAD_PREFIX}(\d+)-")


def remove_stale_uploads(tmp: Path | None = None) -> list[Path]:
    """Delete upload folders left by app servers that are no longer running; returns what was removed.

    A folder belongs to a live server when its name carries that server's process id; folders of the
    old name format (no pid) are always leftovers of an earlier version.
    """
    root = Path(tmp or tempfile.gettempdir())

    def keep(path: Path) -> bool:
        if not path.is_dir() or path.is_symlink():
            return True
        m = _PID_DIR.match(path.name)
        if m and pid_alive(int(m.group(1))):
            return True
        return path.stat().st_uid != os.getuid()  # never touch another user's files

    return _remove_folders(root.glob(f"{UPLOAD_PREFIX}*"), keep)


def _remove_folders(paths: Iterable[Path], keep: Callable[[Path], bool]) -> list[Path]:
    """Delete each of ``paths`` that ``keep`` does not keep (nor one it can't judge: OSError); returns what was removed."""
    removed = []
    for path in paths:
        try:
            if keep(path):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


#: an upload folder nobody has written to for this long is deleted, whether or not Streamlit has
#: dropped its browser session (FACELENS_UI_UPLOAD_TTL, seconds; default 15 minutes)
UPLOAD_TTL_S = 900.0


def upload_ttl() -> float:
    try:
        return max(1.0, settings.value("ui_upload_ttl", default=UPLOAD_TTL_S))
    except ConfigError:  # a malformed value: the default, as always
        return UPLOAD_TTL_S


def _last_use(path: Path) -> float:
    times = [path.stat().st_mtime]
    times += [f.stat().st_mtime for f in path.iterdir() if f.is_file() and not f.is_symlink()]
    return max(times)


def remove_expired_uploads(ttl: float | None = None, tmp: Path | None = None, keep: Path | None = None) -> list[Path]:
    """Delete this server's upload folders unused for ``ttl`` seconds (default :func:`upload_ttl`),
    except ``keep``; returns what was removed. A browser that closed leaves nothing behind for longer."""
    import time

    ttl = upload_ttl() if ttl is None else ttl
    root = Path(tmp or tempfile.gettempdir())
    now = time.time()

    def in_use(path: Path) -> bool:
        if keep is not None and path.resolve() == keep.resolve():
            return True
        return not path.is_dir() or path.is_symlink() or now - _last_use(path) < ttl

    return _remove_folders(root.glob(f"{UPLOAD_PREFIX}{os.getpid()}-*"), in_use)


def _no_external_ip() -> None:
    from streamlit import net_util

    net_util.get_external_ip = lambda: None  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    remove_stale_uploads()
    _no_external_ip()
    from streamlit.web import cli as stcli

    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    return stcli.main()  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main())
