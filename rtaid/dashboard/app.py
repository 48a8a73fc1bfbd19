"""The Streamlit entry script of ``rtaid dashboard`` (run by Streamlit, not imported).

Every run: the shared context (settings, config, dataset check, sidebar pickers),
then the selected page. Page URLs: ``/`` (Market), ``/trading``, ``/health``, ``/data``;
``?symbol=BTCUSDT&from=2024-08-08&to=2024-08-09`` preselects the pickers.
"""
from pathlib import Path

import streamlit as st

from rtaid.dashboard import ui

# Not "pages/": next to the entry script, Streamlit takes that for its older multipage
# layout and runs the page files without this script (AppTest does).
VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="rtaid dashboard", layout="wide")
ui.build_context()
st.navigation([
    st.Page(VIEWS / "market.py", title="Market", url_path="market", default=True),
    st.Page(VIEWS / "trading.py", title="Trading", url_path="trading"),
    st.Page(VIEWS / "health.py", title="Health", url_path="health"),
    st.Page(VIEWS / "data.py", title="Data", url_path="data"),
]).run()
