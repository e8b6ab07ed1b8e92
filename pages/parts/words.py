"""Words a user types that the vocabulary lacks: a warning and the closest spellings, as buttons that fill the box."""

from __future__ import annotations

import streamlit as st

from core.explore.vectors import UnknownWordError
from pages.parts.text import literal


def choose(key: str, word: str) -> None:
    """Button callback: put a suggested word into the query box."""
    st.session_state[key] = word


def show_unknown(exc: UnknownWordError, key: str | None = None) -> None:
    """Say the word is unknown and offer the closest vocabulary words (as buttons when `key` can take them)."""
    st.warning(f"“{literal(exc.word)}” is not in the vocabulary of these vectors.")
    if not exc.suggestions:
        st.caption("No vocabulary word is spelled similarly.")
        return
    st.write("Closest vocabulary words:")
    columns = st.columns(len(exc.suggestions))
    for column, word in zip(columns, exc.suggestions, strict=True):
        if key:
            column.button(literal(word), key=f"suggest_{key}_{word}", on_click=choose, args=(key, word))
        else:
            column.code(word, language=None)
