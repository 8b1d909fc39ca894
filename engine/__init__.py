"""Cold-Start Lab engine, in layers from `core` up to `cli` (docs/architecture.md). Never imports Streamlit."""

__version__ = "0.1.0"
