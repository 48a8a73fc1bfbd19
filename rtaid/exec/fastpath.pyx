"""The venues' order path in C: a target change in the engine's execution ring to an
order request written inside the listener's callback of the frame that caused it: the
binance venue's ``order.place`` on the WebSocket API connection before any Python object
is made, or (the ccxt venue) the body of ccxt's ``POST /fapi/v1/order`` handed to a
*sender* that writes it on a keep-alive REST connection.

How it stays the order manager's decision (rtaid/exec/orders.py), not a second one:

- Python *arms* a symbol (:meth:`FastOrderPath.arm`, from :mod:`rtaid.exec.arming`):
  for each target the strategy may switch to (-1, 0, +1) it asks the manager what it
  would place now (``OrderManager.plan``: side, quantity, type, time in force,
  reduce-only, the client id it would take next, the static risk checks passed) and
  writes the request into a prepared template: every byte but the price, the
  timestamp (and, without ``session.logon`` or over REST, the HMAC signature).
- Anything that changes what the manager would decide (an answer, a fill, a position,
  a state change, what a reconciliation corrects) disarms the symbol first; the service arms it
  again after its next decision.
- Here, for a target event whose armed plan matches (same target and quantity), the
  checks that depend on the market at this instant run in C: the twin of
  ``RiskGate.market_problem`` and of the price-dependent filters (book synced, book
  age, touch and mid present, price band, notional cap, tick, min notional); the
  price is the touch the manager would take (the side it takes; a GTX order its own
  side). Any check failing: nothing is sent here, the Python path decides (and
  records the reason).
- The request goes out (``WSTransport.send_reuse_external_buffer``: no copy, written
  to the socket when its buffer is empty; or the sender's write), and the symbol is
  disarmed. The tick-to-order
  sample ends when the request is handed to the socket (the ccxt venue's figure ends
  at the same point, aiohttp handing its request to the transport); the write itself is
  timed apart (``ws_write``: on loopback the kernel delivers to the receiver inside it). Python's own decision for the same event then runs as always;
  the venue claims the order already sent (:meth:`take_sent`) instead of sending it.
- The listener reaches it as an :class:`~rtaid._kernels.engine.ExecWaker` (``wake``
  through the vtable, no Python call in between), and between frames has it build its
  armed requests without sending them (``warm``): orders come seconds apart, and cold
  code and templates cost several us an order.
"""
from libc.stdint cimport int64_t, int32_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from picows.picows cimport WSTransport, WSMsgType
from rtaid._kernels.clock cimport monotonic_ns, realtime_ns
from rtaid._kernels.engine cimport Engine, ExecWaker, ExecEvent, EXEC_TARGET, EXEC_QUEUE
from rtaid._kernels.book cimport L2Book, SYNC_SYNCED, bid_px, ask_px
from rtaid._kernels.hist cimport LatencyHistogram, hist_record
from rtaid.exec.hmac256 cimport HmacKey, hmac_key_init, hmac_sha256_hex

cdef enum:
    TEMPLATE_MAX = 1024      # bytes of a request or a signature payload
    HEADROOM = 16            # picows writes the frame header in front of the payload
    # slot markers in templates (bytes that never occur in a request)
    SLOT_PRICE = 1
    SLOT_TIMESTAMP = 2
    SLOT_SIGNATURE = 3
    # where an armed plan takes its price
    PRICE_NONE = 0           # market order (the risk reference is the touch it takes)
    PRICE_TOUCH = 1          # limit at the touch it takes (a buy: the best ask)
    PRICE_OWN = 2            # limit at its own side's touch (GTX; a buy: the best bid)
    WARM_INTERVAL_NS = 200000  # warm() at most this often (200 us: <= 5,000 a second)

cdef enum:
    # why a target event was left to Python (PASS_NAMES in this order)
    PASS_NONE = 0
    PASS_BATCH = 1           # more than one target event of the symbol in the batch
    PASS_TARGET = 2          # a target outside -1..1
    PASS_UNARMED = 3         # no armed plan for it (disarmed, or another quantity)
    PASS_PENDING = 4         # the symbol's last request here is not claimed yet
    PASS_MARKET = 5          # a market check failed (book, age, band, notional, filters)
    PASS_REQUEST = 6         # the request could not be built or written

PASS_NAMES = ("", "batch", "target", "unarmed", "pending", "market", "request")
# the slots of a template, as the venues write them
PRICE_SLOT, TIMESTAMP_SLOT, SIGNATURE_SLOT = (bytes([SLOT_PRICE]), bytes([SLOT_TIMESTAMP]),
                                              bytes([SLOT_SIGNATURE]))


def price_mode(str order_type, str tif):
    """Where an armed plan of this order type and time in force takes its price."""
    if order_type == "market":
        return PRICE_NONE
    return PRICE_OWN if tif == "GTX" else PRICE_TOUCH

cdef struct Plan:
    bint armed
    double target_qty        # the target event's target_qty this plan answers
    int32_t side             # +1 buy, -1 sell
    int32_t price_mode       # PRICE_*
    int64_t qty              # lots
    bint reduce_only
    # the market checks' limits (the symbol's effective [risk] and filters)
    int64_t tick             # price units
    int64_t max_age_ms
    double band_bps
    double max_notional
    double min_notional
    double px_scale          # 10 ** px_dec
    double qty_scale         # 10 ** qty_dec
    int32_t px_dec
    char tmpl[TEMPLATE_MAX]
    int32_t tmpl_len
    char sig[TEMPLATE_MAX]   # the HMAC payload (no session.logon); sig_len 0: none
    int32_t sig_len

cdef struct Sent:
    bint pending             # written, not yet claimed by the venue
    int32_t target
    int64_t px
    int64_t timestamp_ms
    int64_t written_mono_ns
    int64_t cause_mono_ns


cdef inline int32_t write_uint(char* out, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int32_t n = 0, i
    if v == 0:
        out[0] = 48
        return 1
    while v > 0:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef inline int32_t write_decimal(char* out, int64_t units, int32_t dec) noexcept nogil:
    """``units`` * 10**-dec as the exact decimal text (Instrument.price_text)."""
    cdef int64_t scale = 1, whole, frac
    cdef int32_t n, i
    if dec <= 0:
        for i in range(-dec):
            units *= 10
        return write_uint(out, units)
    for i in range(dec):
        scale *= 10
    whole = units // scale
    frac = units % scale
    n = write_uint(out, whole)
    out[n] = 46
    n += 1
    for i in range(dec - 1, -1, -1):
        out[n + i] = <char>(48 + frac % 10)
        frac //= 10
    return n + dec


cdef int32_t fill_template(const char* tmpl, int32_t tmpl_len, char* out, int64_t px,
                           int32_t px_dec, int64_t ts_ms, const char* sig_hex) noexcept nogil:
    """Copy a template, writing the price, the timestamp and the signature into its
    slots; returns the length (-1: too long)."""
    cdef int32_t i = 0, n = 0, start
    cdef char c
    while i < tmpl_len:
        start = i
        while i < tmpl_len and tmpl[i] > SLOT_SIGNATURE:
            i += 1
        if i > start:
            if n + (i - start) > TEMPLATE_MAX - 64:
                return -1
            memcpy(out + n, tmpl + start, i - start)
            n += i - start
        if i >= tmpl_len:
            break
        c = tmpl[i]
        i += 1
        if n > TEMPLATE_MAX - 80:
            return -1
        if c == SLOT_PRICE:
            n += write_decimal(out + n, px, px_dec)
        elif c == SLOT_TIMESTAMP:
            n += write_uint(out + n, ts_ms)
        elif c == SLOT_SIGNATURE and sig_hex != NULL:
            memcpy(out + n, sig_hex, 64)
            n += 64
    return n


cdef class FastOrderPath(ExecWaker):
    """Armed plans per symbol, the connection, and the C order path; see the module.

    Parameters
    ----------
    engine : Engine
    n_symbols : int
    tick_to_order, tick_to_order_ws : LatencyHistogram
        The service's histograms (every order of the venue; those sent over the
        WebSocket API: None for a venue without one).
    ws_write : LatencyHistogram
        The socket write of each WebSocket API request (None: as above).
    """
    cdef Engine engine
    cdef int32_t n
    cdef Plan* plans
    cdef Sent* sent
    cdef WSTransport tr
    cdef HmacKey key             # the HMAC secret's states (has_key: set)
    cdef bint has_key
    cdef LatencyHistogram h_all
    cdef LatencyHistogram h_ws
    cdef LatencyHistogram h_write
    cdef char req[HEADROOM + TEMPLATE_MAX]
    cdef char payload[TEMPLATE_MAX]
    cdef int32_t batch_targets[256]
    cdef public object fallback     # the daemon's drain (Python), called after the C path
    # without a WebSocket API connection: sender(sym, target, body) writes the armed
    # plan's request body (its template filled and signed here) and returns when it was
    # handed to the transport (monotonic ns), or 0 when it could not (Python decides)
    cdef object sender
    cdef public int64_t fired       # requests written here
    cdef public int64_t passed      # target events left to Python (unarmed, no match, market)
    cdef int64_t passed_n[8]        # ... by PASS_* reason
    cdef public int64_t write_errors
    cdef public int64_t warmed      # requests built by warm() (not sent)
    cdef int64_t last_warm_ns
    cdef ExecEvent warm_event       # warm()'s stand-in for a target event

    def __cinit__(self, Engine engine, int n_symbols, LatencyHistogram tick_to_order,
                  LatencyHistogram tick_to_order_ws, LatencyHistogram ws_write):
        self.engine = engine
        self.n = n_symbols
        self.plans = <Plan*>calloc(3 * n_symbols, sizeof(Plan))
        self.sent = <Sent*>calloc(n_symbols, sizeof(Sent))
        if self.plans == NULL or self.sent == NULL:
            raise MemoryError()
        self.h_all = tick_to_order
        self.h_ws = tick_to_order_ws
        self.h_write = ws_write
        self.tr = None
        self.has_key = False
        self.fallback = None
        self.sender = None

    def __dealloc__(self):
        free(self.plans)
        free(self.sent)

    # ------------------------------------------------------------------ set-up
    def set_transport(self, transport, bytes hmac_key=None):
        """The WebSocket API connection requests go to (None: down, nothing is sent
        here) and the HMAC secret when requests are signed one by one (None: the
        connection is logged on)."""
        self.tr = transport
        self.set_key(hmac_key)
        if transport is None:
            self.disarm()

    def set_sender(self, sender, bytes hmac_key=None):
        """The ccxt venue's write of an armed plan's request body (see ``sender``
        above; None: nothing is sent here) and the HMAC secret its templates are signed
        with."""
        self.sender = sender
        self.set_key(hmac_key)
        if sender is None:
            self.disarm()

    cdef set_key(self, bytes secret):
        self.has_key = secret is not None
        if secret is not None:
            hmac_key_init(&self.key, <const uint8_t*><const char*>secret,
                          <int32_t>len(secret))

    @property
    def connected(self):
        """Whether a request can go out from here (armed plans are worth making)."""
        return self.tr is not None or self.sender is not None

    def arm(self, int sym, int target, double target_qty, int side, int price_mode,
            int64_t qty, bint reduce_only, int64_t tick, int64_t max_age_ms, double band_bps,
            double max_notional, double min_notional, int px_dec, int qty_dec,
            bytes template, bytes sig_template):
        """Arm ``sym``'s plan for the strategy's ``target`` (-1/0/+1): the order the
        manager would place (request template with price/timestamp/signature slots)."""
        if not 0 <= sym < self.n or not -1 <= target <= 1:
            raise IndexError((sym, target))
        if PyBytes_GET_SIZE(template) >= TEMPLATE_MAX or (
                sig_template is not None and PyBytes_GET_SIZE(sig_template) >= TEMPLATE_MAX):
            raise ValueError("request template too long")
        cdef Plan* p = &self.plans[3 * sym + target + 1]
        p.armed = False
        p.target_qty = target_qty
        p.side = side
        p.price_mode = price_mode
        p.qty = qty
        p.reduce_only = reduce_only
        p.tick = tick if tick > 0 else 1
        p.max_age_ms = max_age_ms
        p.band_bps = band_bps
        p.max_notional = max_notional
        p.min_notional = min_notional
        p.px_dec = px_dec
        p.px_scale = 10.0 ** px_dec
        p.qty_scale = 10.0 ** qty_dec
        p.tmpl_len = <int32_t>PyBytes_GET_SIZE(template)
        memcpy(p.tmpl, PyBytes_AS_STRING(template), p.tmpl_len)
        if sig_template is None:
            p.sig_len = 0
        else:
            p.sig_len = <int32_t>PyBytes_GET_SIZE(sig_template)
            memcpy(p.sig, PyBytes_AS_STRING(sig_template), p.sig_len)
        p.armed = True

    def disarm(self, int sym=-1):
        """Nothing goes out from here for ``sym`` (-1: every symbol) until armed again."""
        self.disarm_c(sym)

    cdef void disarm_c(self, int32_t sym) noexcept:
        cdef int32_t i
        for i in range(3 * self.n):
            if sym < 0 or i // 3 == sym:
                self.plans[i].armed = False

    def armed(self, int sym, int target):
        return bool(self.plans[3 * sym + target + 1].armed)

    def take_sent(self, int sym):
        """The request written here for ``sym`` and not yet claimed:
        ``(target, px, timestamp_ms, written_mono_ns, cause_mono_ns)``, or None."""
        cdef Sent* s = &self.sent[sym]
        if not s.pending:
            return None
        s.pending = False
        return (s.target, s.px, s.timestamp_ms, s.written_mono_ns, s.cause_mono_ns)

    def peek_sent(self, int sym):
        """:meth:`take_sent` without taking it."""
        cdef Sent* s = &self.sent[sym]
        if not s.pending:
            return None
        return (s.target, s.px, s.timestamp_ms, s.written_mono_ns, s.cause_mono_ns)

    def pending_symbols(self):
        return [i for i in range(self.n) if self.sent[i].pending]

    @property
    def passed_by(self):
        """``{reason: target events}`` left to Python, by why (see PASS_NAMES)."""
        return {PASS_NAMES[i]: self.passed_n[i] for i in range(1, len(PASS_NAMES))
                if self.passed_n[i]}

    # ------------------------------------------------------------------ the path
    cdef int wake(self) except -1:
        """The listener's wake-up after a frame that queued execution events (through
        the vtable: a C call from the frame's signals to here): the C path first, then
        the daemon's drain (Python)."""
        if self.tr is not None or self.sender is not None:
            self.run()
        if self.fallback is not None:
            self.fallback()
        return 0

    cdef int run(self) except -1:
        """Send what the armed plans say for the target events queued (not drained)."""
        cdef Engine e = self.engine
        cdef int64_t i
        cdef ExecEvent* ev
        cdef int32_t sym, n_targets = 0, k, count
        # a symbol with more than one target event in the batch is left to Python
        for i in range(e.exec_tail, e.exec_head):
            ev = &e.exec_events[i % EXEC_QUEUE]
            if ev.type == EXEC_TARGET and n_targets < 256:
                self.batch_targets[n_targets] = ev.row.sym
                n_targets += 1
        for i in range(e.exec_tail, e.exec_head):
            ev = &e.exec_events[i % EXEC_QUEUE]
            if ev.type != EXEC_TARGET:
                continue
            sym = ev.row.sym
            if sym < 0 or sym >= self.n:
                continue
            count = 0
            for k in range(n_targets):
                if self.batch_targets[k] == sym:
                    count += 1
            if count != 1:
                k = PASS_BATCH
            else:
                k = self.send_target(ev, False)
            if k != PASS_NONE:
                self.passed += 1
                self.passed_n[k] += 1
        return 0

    cdef int send_target(self, ExecEvent* ev, bint dry) except -1:
        """PASS_NONE when the request went out (``dry``: was built, not sent), else why
        not (PASS_*)."""
        cdef int32_t sym = ev.row.sym, target = ev.row.target
        if target < -1 or target > 1:
            return PASS_TARGET
        cdef Plan* p = &self.plans[3 * sym + target + 1]
        if not p.armed or p.target_qty != ev.row.target_qty:
            return PASS_UNARMED
        if self.sent[sym].pending:
            return PASS_PENDING
        cdef Engine e = self.engine
        cdef int64_t now_ms = realtime_ns() // 1000000
        cdef int64_t px = self.market_price(p, sym, now_ms)
        if px <= 0:
            return PASS_MARKET
        cdef int32_t n = self.render_request(p, px, now_ms)
        if n < 0:
            return PASS_REQUEST
        if dry:
            return PASS_NONE
        cdef int64_t handed
        if self.tr is None:
            handed = self.send_by_sender(sym, target, n)
        else:
            handed = self.send_ws(n)
        if handed <= 0:
            return PASS_REQUEST
        self.disarm_c(sym)
        cdef Sent* s = &self.sent[sym]
        s.pending = True
        s.target = target
        s.px = px if p.price_mode != PRICE_NONE else 0
        s.timestamp_ms = now_ms
        s.written_mono_ns = handed
        s.cause_mono_ns = ev.mono_ns
        if ev.mono_ns > 0:
            hist_record(&self.h_all.h, handed - ev.mono_ns)
            if self.tr is not None and self.h_ws is not None:
                hist_record(&self.h_ws.h, handed - ev.mono_ns)
        self.fired += 1
        return PASS_NONE

    cdef int64_t market_price(self, Plan* p, int32_t sym, int64_t now_ms) noexcept:
        """The twin of RiskGate.market_problem and the price-dependent filters for an
        armed plan now: the order's price (a market order's: the touch it takes), or 0
        when a check fails."""
        cdef Engine e = self.engine
        cdef L2Book* b = &e.books[sym]
        if b.state != SYNC_SYNCED or b.bids.n <= 0 or b.asks.n <= 0:
            return 0
        cdef int64_t last = e.syms[sym].last_E
        if last == 0 or now_ms - last > p.max_age_ms:
            return 0
        cdef int64_t bid = bid_px(b, 0), ask = ask_px(b, 0)
        cdef int64_t px = ask if p.side > 0 else bid
        if p.price_mode == PRICE_OWN:
            px = bid if p.side > 0 else ask
        if px <= 0 or bid <= 0 or ask <= 0:
            return 0
        cdef double mid = (<double>bid + <double>ask) / 2.0
        cdef double diff = <double>px - mid
        if diff < 0:
            diff = -diff
        if diff * 1e4 > p.band_bps * mid:
            return 0
        cdef double notional = (<double>px / p.px_scale) * (<double>p.qty / p.qty_scale)
        if notional > p.max_notional:
            return 0
        if p.price_mode != PRICE_NONE and px % p.tick != 0:
            return 0
        if p.min_notional > 0 and not p.reduce_only and notional < p.min_notional:
            return 0
        return px

    cdef int warm(self, int64_t now_ns) except -1:
        """Run the order path's checks and build its requests for the symbol of the
        frame just done, sending nothing (the listener calls this after each frame;
        it runs at most every WARM_INTERVAL_NS): an order comes seconds apart, and its
        code and templates would otherwise be cold when it comes."""
        if now_ns - self.last_warm_ns < WARM_INTERVAL_NS and now_ns >= self.last_warm_ns:
            return 0
        self.last_warm_ns = now_ns
        if self.tr is None and self.sender is None:
            return 0
        cdef Engine e = self.engine
        cdef int32_t sym = e.msg.sym, i
        cdef Plan* p
        if sym < 0 or sym >= self.n:
            return 0
        # the path a target event of this symbol takes (send_target), all but the send
        cdef ExecEvent* ev = &self.warm_event
        ev.sym = ev.row.sym = sym
        ev.mono_ns = 0
        for i in range(3):
            p = &self.plans[3 * sym + i]
            if p.armed:
                ev.row.target = i - 1
                ev.row.target_qty = p.target_qty
                if self.send_target(ev, True) == PASS_NONE:
                    self.warmed += 1
        return 0

    cdef int32_t render_request(self, Plan* p, int64_t px, int64_t now_ms) noexcept:
        """The plan's request (its template filled, signed when it has a signature
        payload) into ``req`` after the headroom: its length, or -1 (not built)."""
        cdef const char* sig_hex = NULL
        cdef char sig[64]
        cdef int32_t n
        if p.sig_len:
            if not self.has_key:
                return -1
            n = fill_template(p.sig, p.sig_len, self.payload, px, p.px_dec, now_ms, NULL)
            if n < 0:
                return -1
            hmac_sha256_hex(&self.key, <const uint8_t*>self.payload, n, sig)
            sig_hex = sig
        return fill_template(p.tmpl, p.tmpl_len, self.req + HEADROOM, px, p.px_dec, now_ms,
                             sig_hex)

    cdef int64_t send_by_sender(self, int32_t sym, int32_t target, int32_t n) except? -1:
        """The sender's write of the request rendered: its monotonic stamp, or 0 (not
        sent; an error counted)."""
        cdef int64_t handed
        if self.sender is None:
            return 0
        try:
            handed = self.sender(sym, target, self.req[HEADROOM:HEADROOM + n])
        except Exception:
            self.write_errors += 1
            return 0
        return handed if handed > 0 else 0

    cdef int64_t send_ws(self, int32_t n) except? -1:
        """The WebSocket API request rendered, handed to the socket: the monotonic stamp
        of the handover, or 0 (not written)."""
        cdef int64_t handed = monotonic_ns()
        try:
            # the frame header goes into the headroom, the payload is masked in place
            self.tr.send_reuse_external_buffer(WSMsgType.TEXT, self.req + HEADROOM, n)
        except Exception:
            self.write_errors += 1
            return 0
        if self.h_write is not None:
            hist_record(&self.h_write.h, monotonic_ns() - handed)
        return handed

    # ------------------------------------------------------------------ the Python path
    def render(self, bytes template, int64_t px, int px_dec, int64_t ts_ms):
        """A template with its slots filled, unsigned (the Python send path of a
        logged-on connection uses the same templates; signed: :meth:`render_signed`)."""
        cdef int32_t n = fill_template(PyBytes_AS_STRING(template),
                                       <int32_t>PyBytes_GET_SIZE(template), self.payload, px,
                                       px_dec, ts_ms, NULL)
        if n < 0:
            raise ValueError("request too long")
        return self.payload[:n]

    def render_signed(self, bytes template, bytes sig_template, int64_t px, int px_dec,
                      int64_t ts_ms):
        """A template filled and signed exactly as the C path sends it (with the key of
        :meth:`set_sender` / :meth:`set_transport`): what a venue checks against its
        library's own request."""
        if PyBytes_GET_SIZE(template) >= TEMPLATE_MAX or PyBytes_GET_SIZE(sig_template) >= TEMPLATE_MAX:
            raise ValueError("request template too long")
        cdef Plan p
        p.px_dec = px_dec
        p.tmpl_len = <int32_t>PyBytes_GET_SIZE(template)
        memcpy(p.tmpl, PyBytes_AS_STRING(template), p.tmpl_len)
        p.sig_len = <int32_t>PyBytes_GET_SIZE(sig_template)
        memcpy(p.sig, PyBytes_AS_STRING(sig_template), p.sig_len)
        cdef int32_t n = self.render_request(&p, px, ts_ms)
        if n < 0:
            raise ValueError("not rendered: no key, or too long")
        return self.req[HEADROOM:HEADROOM + n]
