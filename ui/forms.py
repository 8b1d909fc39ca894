"""Widgets generated from typed declarations (`engine.jobs.params.ParamField`): model configs, protocol parameters.

One widget per field kind, so the Train form and the Experiments form look and behave alike.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from engine.jobs.params import ParamField, model_choices


def field_widget(field: ParamField, key: str) -> Any:
    """The widget for one declared parameter; returns its value (None for fields kept at their default; the text
    as typed for a `list` field)."""
    if field.kind == "choice":
        return st.selectbox(field.label, field.choices, index=field.choices.index(field.default), help=field.help,
                            key=key)
    if field.kind == "several":
        return st.multiselect(field.label, field.choices, default=list(field.default), help=field.help, key=key)
    if field.kind == "models":
        labels = model_choices(list(field.choices))
        return st.multiselect(field.label, field.choices, default=[n for n in field.default if n in labels],
                              format_func=labels.get, help=field.help, key=key)
    if field.kind == "list":  # checked against the config by the caller (engine.jobs.params.parse_field)
        return st.text_input(field.label, value=", ".join(str(v) for v in field.default),
                             help=f"{field.help} Separate the values with commas.".strip(), key=key)
    if field.kind == "bool":
        return st.checkbox(field.label, value=bool(field.default), help=field.help, key=key)
    if field.kind == "int":
        low = int(field.minimum) if field.minimum is not None else None
        high = int(field.maximum) if field.maximum is not None else None
        return st.number_input(field.label, value=int(field.default), min_value=low, max_value=high, step=1,
                               help=field.help, key=key)
    if field.kind == "float":
        low = float(field.minimum) if field.minimum is not None else None
        high = float(field.maximum) if field.maximum is not None else None
        return st.number_input(field.label, value=float(field.default), min_value=low, max_value=high,
                               help=field.help, key=key, format="%g")
    if field.kind == "text":
        return st.text_input(field.label, value=str(field.default), help=field.help, key=key)
    if field.kind == "whole_numbers":
        return st.text_input(field.label, value=",".join(str(v) for v in field.default), help=field.help, key=key)
    st.caption(f"{field.label}: {field.default!r} (fixed at its default here)")
    return None
