"""The one chat renderer of the Photo and Sessions pages: the messages so far, plain text, details under each answer."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from facelens.tools.names import (
    markdown_text,  # answers hold names: plain text, never links or images
)


def messages_ui(messages: list[dict], caption: Callable[[dict], str], details: str, title: str) -> None:
    """Draw the chat: each message as plain text; under an answer ``caption(message)`` and, behind an
    expander titled "``title`` (N)", the message's ``details`` list (the tool calls, the evidence)."""
    for m in messages:
        with st.chat_message(m["role"]):
            st.markdown(markdown_text(m["text"], lines=True))
            if m["role"] == "assistant":
                st.caption(caption(m))
                if m.get(details):
                    with st.expander(f"{title} ({len(m[details])})"):
                        st.json(m[details])
