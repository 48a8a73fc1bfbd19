"""Streamlit page scripts of the dashboard (run by ``st.navigation`` in app.py; not
meant to be imported). Each draws its page from ``rtaid.dashboard.ui.context()``."""
