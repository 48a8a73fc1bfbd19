# The paper venue's fill model, in the engine: orders work on exchange time against the
# engine's own book and trades, so a live run and a replay of its journal fill alike.
# Included by engine.pyx (functions of an Engine; one compilation unit).
#
# - An order submitted at exchange time T works from T + paper_latency_ms: the first
#   event of its symbol at or after that time activates it.
# - Activation: a market order walks the book (up to PAPER_LEVELS levels) and is done
#   (EXEC_DONE with what is left) when they run out; a limit order takes what the book
#   offers at its price or better (taker), the rest rests.
# - A resting limit order fills (maker) when a trade prints through its price: a buy when
#   a trade prints below it, a sell above it, for at most the trade's quantity.
# - A book that is not synced fills nothing: the order is done (EXEC_DONE) at activation.
# - A resting limit order with a timeout is taken off (EXEC_DONE, reason timeout) by the
#   first event of its symbol at or after submission + timeout: on exchange time, like
#   its fills, so a replay expires it where the live run did.
# Fills do not consume the book: paper orders are small next to the levels they walk.


cdef ExecEvent* exec_push(Engine self, int32_t type, int32_t sym, int64_t ts_ms) noexcept nogil:
    """A slot of the execution ring for a new event (NULL, counted, when it is full)."""
    cdef ExecEvent* ev
    if self.exec_head - self.exec_tail >= EXEC_QUEUE:
        # the task is behind: a target change is still in the signals table and in
        # signal_state(), which the order manager reconciles against
        self.exec_lost += 1
        return NULL
    ev = &self.exec_events[self.exec_head % EXEC_QUEUE]
    ev.type = type
    ev.sym = sym
    ev.ts_ms = ts_ms
    ev.recv_ns = self.recv_ns
    ev.mono_ns = self.frame_mono_ns
    ev.order_id = 0
    ev.side = 0
    ev.maker = 0
    ev.px = 0
    ev.qty = 0
    ev.remaining = 0
    ev.reason = PAPER_DONE_UNFILLED
    self.exec_head += 1
    return ev


cdef void paper_fill(Engine self, PaperOrder* o, int64_t px, int64_t qty, bint maker,
                     int64_t T) noexcept nogil:
    cdef ExecEvent* ev
    o.qty -= qty
    ev = exec_push(self, EXEC_FILL, o.sym, T)
    if ev != NULL:
        ev.order_id = o.id
        ev.side = o.side
        ev.maker = maker
        ev.px = px
        ev.qty = qty
        ev.remaining = o.qty
    if o.qty == 0:
        o.state = 0
        self.syms[o.sym].paper_orders -= 1
        self.paper_n -= 1


cdef void paper_done(Engine self, PaperOrder* o, int64_t T, int32_t reason) noexcept nogil:
    """Take an order off with what it has left (EXEC_DONE)."""
    cdef ExecEvent* ev = exec_push(self, EXEC_DONE, o.sym, T)
    if ev != NULL:
        ev.order_id = o.id
        ev.side = o.side
        ev.remaining = o.qty
        ev.reason = reason
    o.state = 0
    self.syms[o.sym].paper_orders -= 1
    self.paper_n -= 1


cdef void paper_take(Engine self, PaperOrder* o, int64_t T) noexcept nogil:
    """Activate an order: take the book's liquidity (market; limit up to its price)."""
    cdef L2Book* b = &self.books[o.sym]
    cdef int32_t n, k
    cdef int64_t take
    if b.state == SYNC_SYNCED:
        if o.side > 0:
            n = book_top_asks(b, PAPER_LEVELS, self.paper_px, self.paper_qty)
        else:
            n = book_top_bids(b, PAPER_LEVELS, self.paper_px, self.paper_qty)
        for k in range(n):
            if o.limit and (self.paper_px[k] > o.px if o.side > 0 else self.paper_px[k] < o.px):
                break
            take = o.qty if o.qty < self.paper_qty[k] else self.paper_qty[k]
            paper_fill(self, o, self.paper_px[k], take, False, T)
            if o.state == 0:
                return
        if o.limit:
            o.state = 2          # the rest rests
            return
    # market order without (enough) liquidity, or a book that cannot be trusted: done
    paper_done(self, o, T, PAPER_DONE_UNFILLED)


cdef void paper_on_event(Engine self, const Msg* m) noexcept nogil:
    """Work the symbol's paper orders on one of its events (after the book and the
    signals took it)."""
    cdef int32_t i
    cdef int64_t T = m.T
    cdef PaperOrder* o
    cdef bint trade = m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE
    for i in range(PAPER_ORDERS):
        o = &self.paper[i]
        if o.state == 0 or o.sym != m.sym:
            continue
        if o.state == 1:
            if T >= o.active_T:
                paper_take(self, o, T)
        elif o.expire_T and T >= o.expire_T:
            paper_done(self, o, T, PAPER_DONE_TIMEOUT)
        elif trade and (m.px < o.px if o.side > 0 else m.px > o.px):
            paper_fill(self, o, o.px, o.qty if o.qty < m.qty else m.qty, True, T)
        if self.syms[m.sym].paper_orders == 0:
            return
