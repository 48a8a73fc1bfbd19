"""Data: every table's partitions with files, rows, bytes and time range per symbol and
day (from the Parquet footers, no data read), and what retention will remove."""
import streamlit as st

from rtaid.dashboard import dataset, ui


def main() -> None:
    ctx = ui.context()
    st.header("Data")
    st.caption(f"`{ctx.root}`")
    if ctx.dataset_problem is not None:
        st.warning(ctx.dataset_problem)
        return
    partitions = dataset.inventory(ctx.root, _time_columns())
    total_bytes = sum(p.bytes for p in partitions)
    total_rows = sum(p.rows or 0 for p in partitions)
    cols = st.columns(4)
    cols[0].metric("Tables", f"{len({p.table for p in partitions})}")
    cols[1].metric("Partitions", f"{len(partitions):,}")
    cols[2].metric("Rows", f"{total_rows:,}")
    cols[3].metric("Size", _size(total_bytes))
    unreadable = sum(p.unreadable for p in partitions)
    if unreadable:
        st.error(f"{unreadable} part file(s) could not be read (see the 'unreadable' column).")

    st.subheader("Tables")
    summary = {}
    for p in partitions:
        s = summary.setdefault(p.table, {"table": p.table, "symbols": set(), "days": set(),
                                         "files": 0, "rows": 0, "MB": 0.0})
        s["symbols"].add(p.symbol)
        s["days"].add(p.day)
        s["files"] += p.files
        s["rows"] = None if p.rows is None else s["rows"] + p.rows
        s["MB"] += p.bytes / 1e6
    st.dataframe([{**s, "symbols": len(s["symbols"]), "days": len(s["days"]),
                   "MB": round(s["MB"], 3)} for s in summary.values()])

    st.subheader("Retention")
    _retention(ctx, partitions)

    st.subheader("Partitions")
    st.dataframe([{
        "table": p.table, "symbol": p.symbol, "date": p.day, "files": p.files, "rows": p.rows,
        "MB": round(p.bytes / 1e6, 3), "first (UTC)": ui.fmt_ms(p.first_ms),
        "last (UTC)": ui.fmt_ms(p.last_ms), "unreadable": p.unreadable,
    } for p in partitions])


def _time_columns() -> dict[str, str]:
    """Each known table's dating column, from the table registry (one place)."""
    from rtaid.store.tables import TABLES

    return {name: table.time for name, table in TABLES.items()}


def _retention(ctx, partitions) -> None:
    if ctx.config is None:
        st.caption("Retention unknown: the configuration is invalid.")
        return
    keep = ctx.config.storage.retention_days
    cutoff = dataset.retention_cutoff(keep)
    days = sorted({p.day for p in partitions})
    if cutoff is None:
        st.markdown("`storage.retention_days = 0`: the daemon keeps every day.")
        return
    expired = [p for p in partitions if p.day < cutoff.isoformat()]
    st.markdown(
        f"`storage.retention_days = {keep}`: the daemon removes days before "
        f"**{cutoff.isoformat()}** (UTC), hourly while it runs. Oldest day here: "
        f"**{days[0] if days else '-'}**; partitions past the cutoff: **{len(expired)}** "
        f"({_size(sum(p.bytes for p in expired))}).")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


main()
