"""API keys for ``facelens serve``: created once, stored only as salted hashes, checked per request.

A key looks like ``flk_<id>_<secret>``: the id finds the stored entry, the 32-byte random secret is
compared against its salted SHA-256 in constant time. (A random 256-bit secret needs no slow hash:
PBKDF2 protects guessable passwords, and would cost every request ~0.2 s.) The file is
``FACELENS_HOME/apikeys.json``, written with the crash-safe writer (:mod:`facelens.tools.atomic`)
under a lock; a running server rereads it when it changes, so a revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from facelens.tools import config
from facelens.tools.errors import ConfigError, InputError, NotFoundError

#: roles, weakest first: each can do what the ones before it can
ROLES = ("reader", "editor", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_PREFIX = "flk"


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the key itself)."""

    name: str  # who or what uses it, unique
    role: str  # reader | editor | admin
    key_id: str  # the public part of the key (``flk_<key_id>_...``), shown in lists
    created: str  # ISO time, UTC

    def to_dict(self) -> dict:
        return asdict(self)


def role_allows(role: str, needed: str) -> bool:
    """Does ``role`` include ``needed``? (admin > editor > reader)"""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"Unknown role '{role}'.", hint=f"Choose one of: {', '.join(ROLES)}.")
    return role


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


log = logging.getLogger(__name__)


class KeyStore:
    """The keys file under FACELENS_HOME (or ``path``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else config.home() / "apikeys.json"
        self._stamp: tuple[int, int] | None = None
        self._entries: list[dict] = []

    # --- reading -------------------------------------------------------------------------------

    def _load(self) -> list[dict]:
        """The entries, reread only when the file changed (cheap enough to call per request)."""
        from facelens.tools.atomic import DamagedError, read_sealed

        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, []
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(read_sealed(self.path))
            except (DamagedError, OSError, ValueError) as exc:
                # no path and no detail here: this message can reach an unauthenticated REST client
                log.warning("the API key file %s cannot be read: %s", self.path, exc)
                raise ConfigError(
                    "The server's API key file is damaged or unreadable; no key can be checked.",
                    hint="The server's owner: run `facelens doctor`, then delete apikeys.json in FACELENS_HOME "
                    "and create the keys again with `facelens apikey create`.",
                ) from exc
            self._entries, self._stamp = list(data.get("keys", [])), stamp
        return self._entries

    def status(self) -> str | None:
        """None when the key file is sound or absent, else what is wrong with it (for ``facelens doctor``)."""
        from facelens.tools.atomic import DamagedError, read_sealed

        if not self.path.exists():
            return None
        try:
            data = json.loads(read_sealed(self.path))
            entries = data["keys"]
            if not isinstance(entries, list) or any(
                not {"name", "role", "key_id", "salt", "hash"} <= set(e) for e in entries
            ):
                raise ValueError("an entry lacks a field")
        except (DamagedError, OSError, ValueError, KeyError, TypeError) as exc:
            return f"the API key file {self.path} is damaged ({exc})"
        return None

    def list(self) -> list[ApiKey]:
        return [ApiKey(e["name"], e["role"], e["key_id"], e["created"]) for e in self._load()]

    def __len__(self) -> int:
        return len(self._load())

    def verify(self, token: str) -> ApiKey | None:
        """The key ``token`` belongs to, or None (unknown, revoked or malformed)."""
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        for e in self._load():
            if hmac.compare_digest(e["key_id"], parts[1]):
                if hmac.compare_digest(_digest(e["salt"], parts[2]), e["hash"]):
                    return ApiKey(e["name"], e["role"], e["key_id"], e["created"])
                return None
        return None

    # --- writing -------------------------------------------------------------------------------

    def _save(self, entries: list[dict]) -> None:
        from facelens.tools.atomic import write_sealed

        write_sealed(self.path, json.dumps({"keys": entries}, indent=1).encode("utf-8"))
        self._stamp = None

    def _lock(self):  # type: ignore[no-untyped-def]
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock", timeout=30)

    def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """Create a key; returns it and the secret token (shown once, never stored).

        Raises:
            InputError: a bad name or role, or the name is taken.
        """
        if not _NAME.match(name or ""):
            raise InputError(f"'{name}' is not a usable key name.", hint="Use letters, digits and _ . @ - (up to 64).")
        check_role(role)
        with self._lock():
            entries = list(self._load())
            if any(e["name"] == name for e in entries):
                raise InputError(
                    f"A key named '{name}' exists.",
                    hint=f"Revoke it first (facelens apikey revoke {name}) or pick another name.",
                )
            key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            entries.append(
                {
                    "name": name,
                    "role": role,
                    "key_id": key_id,
                    "created": created,
                    "salt": salt,
                    "hash": _digest(salt, secret),
                }
            )
            self._save(entries)
        return ApiKey(name, role, key_id, created), f"{_PREFIX}_{key_id}_{secret}"

    def revoke(self, name: str) -> ApiKey:
        """Delete a key. Raises NotFoundError when no key has that name."""
        with self._lock():
            entries = list(self._load())
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                raise NotFoundError(f"No API key named '{name}'.", hint="See the names with: facelens apikey list")
            gone = next(e for e in entries if e["name"] == name)
            self._save(kept)
        return ApiKey(gone["name"], gone["role"], gone["key_id"], gone["created"])
