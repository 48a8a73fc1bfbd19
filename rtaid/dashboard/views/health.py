"""Health: the daemon's live state from its control socket (refreshed every
``refresh_s``), and the books' sync history (``book_events``) from the dataset."""
import streamlit as st

from rtaid.dashboard import dataset, live, ui
from rtaid.dashboard.schema import BOOK_EVENT_COLUMNS, BOOK_EVENTS

PREVIOUS_KEY = "health_previous_status"  # the last answer, for frames/s


def main() -> None:
    ctx = ui.context()
    st.header("Health")
    st.fragment(run_every=ctx.settings.refresh_s)(_live)(ctx.settings.socket)
    st.divider()
    _book_events(ctx)


def _live(socket: str) -> None:
    status = live.fetch(socket)
    previous = st.session_state.get(PREVIOUS_KEY)
    st.session_state[PREVIOUS_KEY] = status
    st.subheader("Daemon (live)")
    if status.answered:
        cols = st.columns(3)
        cols[0].metric("Daemon", "error")
        st.error(f"The daemon at {socket} answered with an error: {status.error}")
        return
    if not status.running:
        cols = st.columns(3)
        cols[0].metric("Daemon", "not running")
        st.error(f"Daemon not running or not reachable: {status.error}. Start it with "
                 f"`rtaid run` (or `systemctl start rtaid`), or pass `--socket`.")
        return
    data = status.data
    fps = live.frames_per_second(previous, status)
    cols = st.columns(5)
    cols[0].metric("Daemon", "running")
    cols[1].metric("State", str(live.get(data, "state") or "-"))
    cols[2].metric("Uptime", _duration(live.number(data, "uptime_s")))
    cols[3].metric("Version", str(live.get(data, "version") or "-"))
    cols[4].metric("Frames/s", f"{fps:,.0f}" if fps is not None else "-")

    symbols = live.symbol_rows(status)
    synced = [r for r in symbols if r["synced"] is True]
    st.markdown(f"**Books synced: {len(synced)} of {len(symbols)}**")
    if symbols:
        st.dataframe(symbols)

    st.markdown("**Feed**")
    cols = st.columns(len(live.FEED_FIELDS))
    for col, name in zip(cols, live.FEED_FIELDS):
        col.metric(name.capitalize(), _count(live.number(data, "feed", name)))

    st.markdown("**Latency per stage (µs)**")
    latency = live.latency_rows(status)
    if latency:
        st.dataframe(latency)
    else:
        st.caption("The daemon reports no latency histograms.")

    st.markdown("**Storage**")
    cols = st.columns(len(live.STORAGE_FIELDS))
    for col, name in zip(cols, live.STORAGE_FIELDS):
        col.metric(name.replace("_", " ").capitalize(), _count(live.number(data, "storage", name)))

    orders = live.orders_summary(status)
    if orders:
        st.markdown("**Orders**")
        st.dataframe([{"counter": k, "value": v} for k, v in orders.items()])
    with st.expander("Indicators and oscillators"):
        for group in ("indicators", "oscillators"):
            rows = live.symbol_values(status, group)
            if rows:
                st.markdown(group.capitalize())
                st.dataframe(rows)


def _book_events(ctx) -> None:
    st.subheader("Book events (dataset)")
    if not ui.require_dataset(ctx):
        return
    st.caption(ctx.selection_label())
    try:
        events = ui.read_table(ui.table_refs(ctx, BOOK_EVENTS), BOOK_EVENT_COLUMNS, "E")
    except dataset.DatasetError as exc:
        ui.show_dataset_error(exc)
        return
    if not events.num_rows:
        st.caption("No book events recorded for this selection.")
        return
    kinds = [str(e) for e in events["event"].to_pylist()]
    counts = {k: kinds.count(k) for k in sorted(set(kinds))}
    cols = st.columns(len(counts))
    for col, (kind, n) in zip(cols, counts.items()):
        col.metric(f"book events: {kind}", f"{n:,}")
    st.dataframe(ui.arrow_to_display(events, ("E", "T")))


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def _count(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


main()
