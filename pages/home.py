"""Home: what cold start is, and where to begin."""

from __future__ import annotations

import streamlit as st

st.title("Cold-Start Lab")
st.markdown(
    "A recommender learns from what people did. **Cold start** is when a user or an item is new, so there is "
    "little or nothing to learn from: collaborative filtering has no history, and models must lean on attributes "
    "such as genre, price, age or occupation. Cold-Start Lab lets you find out, on your own data, which model "
    "works for new users, new items, and those with only a few interactions."
)
st.page_link("pages/data.py", label="Start with data: upload your tables or load a sample", icon=":material/table:")
