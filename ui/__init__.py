"""Streamlit building blocks shared by pages (widgets, chart builders). Only UI code: logic lives in engine/."""
