"""Cold-Start Lab engine: data, protocols, models, metrics, jobs and storage. Never imports Streamlit."""

__version__ = "0.1.0"
