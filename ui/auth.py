"""The app's login: a password or token, asked once per browser session when the server requires one.

``facelens ui`` requires a secret on any address other than loopback (``FACELENS_UI_PASSWORD``, or a
token it generates and prints). The server process never sees the secret itself: it gets a salted
PBKDF2 hash in :data:`AUTH_ENV` and compares in constant time. A wrong secret costs a growing delay,
so guessing a password from the network is slow.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

import streamlit as st

#: the environment variable that carries ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` to the server
AUTH_ENV = "FACELENS_UI_AUTH"
AUTHED_KEY = "facelens_authed"
_FAILS_KEY = "facelens_login_failures"
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


def login_required() -> bool:
    """Does this server require a login? (``facelens ui`` on a non-loopback address)"""
    return bool(os.environ.get(AUTH_ENV))


def login_ui() -> bool:
    """Draw the login form unless this browser session is signed in; returns True once it is.

    The caller stops drawing (``st.stop()``) when this returns False, so nothing else of the app,
    its settings or its data is reachable before a correct secret.
    """
    stored = os.environ.get(AUTH_ENV, "")
    if not stored or st.session_state.get(AUTHED_KEY):
        return True
    st.title("facelens")
    st.caption("This app is shared on the network, so it asks for the password (FACELENS_UI_PASSWORD) or the "
               "token that `facelens ui` printed when it started.")
    with st.form("facelens_login"):
        secret = st.text_input("Password or token", type="password", key="login_secret")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if secret and check_secret(secret, stored):
            st.session_state[AUTHED_KEY] = True
            st.session_state.pop(_FAILS_KEY, None)
            st.rerun()
        fails = int(st.session_state.get(_FAILS_KEY, 0)) + 1
        st.session_state[_FAILS_KEY] = fails
        time.sleep(min(2.0 * fails, 10.0))  # each wrong guess costs more
        st.error("That password or token is wrong.\n\n**What to do:** use FACELENS_UI_PASSWORD as set on the "
                 "server, or the token printed by `facelens ui`.")
    return False
