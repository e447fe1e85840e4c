"""The app's login: a password or token, asked once per browser session when the server requires one.

``facelens ui`` requires a secret on any address other than loopback (``FACELENS_UI_PASSWORD``, or a
token it generates and prints). The server process never sees the secret itself: it gets a salted
PBKDF2 hash in :data:`AUTH_ENV` and compares in constant time. Wrong secrets slow guessing down per
client address and for the whole server (:class:`LoginThrottle`), not per browser tab: a new tab or
a new session from the same address waits just as long, and many addresses together no faster than
the global rate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

import streamlit as st

from facelens.tools import settings

#: the environment variable that carries ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` to the server
AUTH_ENV = "FACELENS_UI_AUTH"
AUTHED_KEY = "facelens_authed"
_ITERATIONS = 200_000


def hash_secret(secret: str, *, salt: bytes | None = None, iterations: int = _ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash of ``secret`` in the form :data:`AUTH_ENV` carries."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    """Does ``secret`` match a :func:`hash_secret` value? (constant-time; a malformed value never matches)"""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), bytes.fromhex(salt), int(iterations))
        return hmac.compare_digest(got.hex(), digest)
    except ValueError:
        return False


def _clock() -> float:
    return time.monotonic()


class LoginThrottle:
    """When the next login attempt may come, per client address and for everybody (one per server process).

    After ``n`` wrong secrets in a row from an address, its next attempt waits ``min(2 n, 30)`` s; after
    ``k`` wrong secrets from anywhere in the last minute, any next attempt waits ``min(k / 4, 5)`` s.
    An attempt before its time is refused without checking the secret (and without counting it).
    """

    PER_ADDRESS_S, PER_ADDRESS_MAX_S = 2.0, 30.0
    GLOBAL_S, GLOBAL_MAX_S, WINDOW_S = 0.25, 5.0, 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._global_next = 0.0

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        with self._lock:
            now = _clock()
            return max(0.0, self._next.get(address, 0.0) - now, self._global_next - now)

    def failed(self, address: str) -> None:
        with self._lock:
            now = _clock()
            n = self._fails.get(address, 0) + 1
            self._fails[address] = n
            self._next[address] = now + min(self.PER_ADDRESS_S * n, self.PER_ADDRESS_MAX_S)
            self._recent.append(now)
            while self._recent and self._recent[0] < now - self.WINDOW_S:
                self._recent.popleft()
            self._global_next = now + min(self.GLOBAL_S * len(self._recent), self.GLOBAL_MAX_S)
            if len(self._fails) > 10_000:  # bound the memory an address sweep could take
                for old in [a for a, t in self._next.items() if t < now][:5_000]:
                    self._fails.pop(old, None)
                    self._next.pop(old, None)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._fails.pop(address, None)
            self._next.pop(address, None)

    def reset(self) -> None:
        with self._lock:
            self._fails.clear()
            self._next.clear()
            self._recent.clear()
            self._global_next = 0.0


#: the one throttle of this app server
THROTTLE = LoginThrottle()


def client_address() -> str:
    """The browser's address as the server sees it ("unknown" where Streamlit cannot tell)."""
    try:
        ip = st.context.ip_address
    except Exception:  # older Streamlit, or outside a script run
        return "unknown"
    return ip if isinstance(ip, str) and ip else "unknown"  # None on some proxies, a stand-in object in AppTest


def login_ui() -> bool:
    """Draw the login form unless this browser session is signed in; returns True once it is.

    The caller stops drawing (``st.stop()``) when this returns False, so nothing else of the app,
    its settings or its data is reachable before a correct secret.
    """
    stored = settings.value("ui_auth")
    if not stored or st.session_state.get(AUTHED_KEY):
        return True
    st.title("facelens")
    st.caption(
        "This app is shared on the network, so it asks for the password (FACELENS_UI_PASSWORD) or the "
        "token that `facelens ui` printed when it started."
    )
    with st.form("facelens_login"):
        secret = st.text_input("Password or token", type="password", key="login_secret")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        address = client_address()
        wait = THROTTLE.wait(address)
        if wait > 0:
            st.error(
                f"Too many wrong guesses: try again in {wait:.0f} s.\n\n**What to do:** wait, then type the "
                "password or token once more."
            )
            return False
        if secret and check_secret(secret, stored):
            THROTTLE.succeeded(address)
            st.session_state[AUTHED_KEY] = True
            st.rerun()
        THROTTLE.failed(address)
        st.error(
            "That password or token is wrong.\n\n**What to do:** use FACELENS_UI_PASSWORD as set on the "
            "server, or the token printed by `facelens ui`."
        )
    return False
