"""``rtaid dashboard``: a Streamlit + Plotly view of the dataset and the live daemon.

Optional (``pip install 'rtaid[dashboard]'``). Modules: :mod:`~.cli` (the command;
imports no Streamlit until the extra is known to be there), :mod:`~.dataset` (partition
and column pruned reads, in-scan downsampling), :mod:`~.live` (the control socket),
:mod:`~.schema` (the columns read, the future orders/fills tables' names), :mod:`~.pnl`,
:mod:`~.execution`, :mod:`~.figures`, :mod:`~.ui` and ``app.py`` + ``views/`` (Streamlit).
"""
