"""A name field whose default follows the rest of the form.

A keyed text input keeps the first value it was given, so a default built from other choices (protocol and seed,
kind and size, the uploaded file) would go stale as soon as those change and save a mislabelled record. The field
is empty instead, shows the automatic name as its placeholder, and that name is used unless the person typed one.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator


def name_input(automatic: str, key: str, *, label: str = "Name", where: DeltaGenerator | None = None) -> str:
    """The name the person typed, or `automatic` when the field is left empty."""
    typed = (where or st).text_input(label, placeholder=automatic, key=key,
                                     help="Leave empty to use the name shown, which follows your other choices.")
    return typed.strip() or automatic
