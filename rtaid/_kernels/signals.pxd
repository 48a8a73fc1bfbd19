# C-level API of the signal kernels (/work/shared/docs/indicators.md): every indicator,
# its EWMA z-score and oscillator, one-minute bars and the mean-reversion strategy,
# updated incrementally per event of one symbol. All state lives in one SymbolSignals
# struct whose windows are ring buffers allocated once by sig_init (counted with mem.pxd);
# nothing is allocated and no Python object is touched per event.
#
# Use (per symbol, from the thread that runs the engine):
#   fill_sig_params(&params, p)                      p: rtaid.reference.indicators.Params
#                                                    (or SignalParams(p).c; from config:
#                                                    SignalParams.from_config(cfg, ...))
#   sig_init(&st, &params, sym, l1_from_book)        once; sig_free(&st) at the end
#   flags = sig_on_bbo(&st, &msg)                    decoded bookTicker
#   flags = sig_on_trade(&st, &msg)                  decoded trade / aggTrade
#   flags = sig_on_depth(&st, &book, &msg, status)   after book_on_depth / book_replay_next
#                                                    (EVERY status: it tracks book sync)
#   sig_on_snapshot(&st, &book)                      after book_load_snapshot, before replay
#   sig_on_reconnect(&st)                            the symbol's stream was reconnected
#   flags = sig_on_timer(&st, now_ms)                live: bar timer (section 10), now_ms =
#                                                    the current time in exchange ms
#   flags = sig_finish(&st)                          end of input: flush the open bar
#   sig_reset(&st)                                   forget everything, keep the buffers
# then read st.row (SIG_ROW), st.bar (SIG_BAR) and st.signal (SIG_SIGNAL); the current
# target is st.strat.target and the mlofi vector st.mlofi_vec[0 .. ofi_levels). A bar
# flagged by an event was closed BEFORE that event (it precedes the event's row).
# l1_from_book: the symbol has no bookTicker stream (L1 = top of the synced book).
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.decode cimport Msg
from rtaid._kernels.book cimport L2Book
from rtaid._kernels.records cimport (
    IndicatorRow, BarRow, SignalRow, N_RAW, N_NORM, RAW_OBI, RAW_DI, RAW_TI, RAW_MPD_TICKS,
    RAW_MPD_BPS, RAW_OFI, RAW_OFI_NORM, RAW_MLOFI_SUM, RAW_VPIN, RAW_KYLE_LAMBDA, RAW_LPI,
    RAW_WALL_BID, RAW_WALL_ASK, RAW_WALL_NET, RAW_WALL_DIST_BID, RAW_WALL_DIST_ASK, RAW_DEV_BPS,
    NS_OBI, NS_DI, NS_MPD_BPS, NS_OFI_NORM, NS_MLOFI_SUM, NS_VPIN, NS_KYLE_LAMBDA, NS_LPI,
    NS_WALL_NET, NS_DEV_BPS, EV_BBO, EV_DEPTH, EV_TRADE, RS_ENTRY_LONG, RS_ENTRY_SHORT,
    RS_EXIT_MID, RS_MAX_HOLD, RS_STOP_LOSS,
)

# Flags returned by the sig_on_* functions
cdef enum:
    SIG_ROW = 1          # st.row holds a new indicators row
    SIG_BAR = 2          # st.bar holds a closed one-minute bar
    SIG_SIGNAL = 4       # st.signal holds a strategy target change

cdef enum:
    STRAT_NONE = 0
    STRAT_MEAN_REVERSION = 1
    STRAT_HYBRID = 2         # mean reversion whose entries the model must agree with

cdef enum:
    MAX_BOOK_LEVELS = 256    # most levels any L2 indicator may read (tobi/ofi/wall.levels)
    DECAY_TABLE = 1024       # 1 - exp(-dt / tau) precomputed for dt = 0 .. DECAY_TABLE-1 ms

# Indicator families (SigParams.disabled_families bits): a disabled family is not
# computed (its columns stay NaN); for benchmarks and symbols that need only some.
cdef enum:
    FAM_TOBI = 1 << 0        # obi, mpd_ticks, mpd_bps
    FAM_OFI = 1 << 1         # ofi, ofi_norm
    FAM_DEV = 1 << 2         # dev_bps
    FAM_KYLE = 1 << 3        # kyle_lambda
    FAM_LPI = 1 << 4         # lpi
    FAM_TI = 1 << 5          # ti
    FAM_VPIN = 1 << 6        # vpin
    FAM_DI = 1 << 7          # di
    FAM_MLOFI = 1 << 8       # mlofi_sum (and the vector)
    FAM_WALL = 1 << 9        # wall_*
    FAM_NORM = 1 << 10       # every z and osc
    FAM_BARS = 1 << 11       # bars_1m
    FAM_STRATEGY = 1 << 12   # signals

# Profiled sections (SymbolSignals.prof_*): the families in FAM_* bit order, then the
# copy of the book's top levels that the L2 families share.
cdef enum:
    PROF_L2_COPY = 13
    N_PROF = 14

# Every parameter of the reference's Params (config keys of section 11 + strategy keys),
# in kernel units, plus the ring capacities of the time windows.
cdef struct SigParams:
    int32_t tobi_levels
    double tobi_decay
    int64_t tobi_trade_window_ms
    int64_t ofi_window_ms
    int32_t ofi_levels
    int64_t vpin_capacity_lots       # configured bucket volume in lots; 0: calibrate
    int32_t vpin_buckets
    int64_t vpin_calibration_ms
    int64_t dev_ema_ms
    int64_t kyle_interval_ms
    int32_t kyle_window
    int32_t kyle_min_intervals
    int64_t lpi_horizon_ms
    int64_t lpi_half_life_ms
    double lpi_maker_fee_bps
    int32_t lpi_history
    int32_t wall_levels
    int64_t norm_tau_ms
    int32_t norm_warmup
    double norm_sigma_floor
    int32_t strategy_kind            # STRAT_*
    double strategy_entry_low
    double strategy_entry_high
    double strategy_exit_mid
    double strategy_toxic_max
    int64_t strategy_max_hold_ms
    double strategy_stop_bps
    int64_t strategy_cooldown_ms
    int64_t strategy_stale_ms
    double strategy_order_qty
    double strategy_model_threshold  # hybrid: p needed for an entry (long p, short 1 - p)
    double tick_units                # tick in px units (Decision U1)
    int32_t px_dec
    int32_t qty_dec
    int64_t pscale                   # 10**px_dec
    int64_t qscale                   # 10**qty_dec
    # ring capacities (entries); a full ring evicts its oldest entry and counts it. The
    # rings are allocated at capacity but used from WINDOW_START_SIZE slots, doubling
    # in place when full: only the slots a window has needed are ever touched (resident)
    int32_t trade_window_cap         # ti: trades within tobi.trade_window_ms
    int32_t l1_window_cap            # ofi: L1 events within ofi.window_ms
    int32_t depth_window_cap         # mlofi: applied diffs within ofi.window_ms
    int32_t lpi_pending_cap          # trades waiting lpi.horizon_ms for their mid
    int32_t disabled_families        # FAM_* bits; 0: everything (the contract)

# ---------------------------------------------------------------- component state
cdef struct TradeWindow:             # ti
    int64_t* T
    int64_t* qty                     # signed: + buy, - sell
    int32_t head
    int32_t n
    int32_t cap                      # most entries (evicts the oldest beyond)
    int32_t size                     # ring slots in use: grows to cap as needed
    int64_t vbuy
    int64_t vsell
    int32_t high_water               # most entries ever held
    int64_t forced_evictions

cdef struct OfiWindow:               # ofi / ofi_norm
    int64_t* T
    int64_t* e
    int64_t* q                       # Qb + Qa
    int32_t head
    int32_t n
    int32_t cap                      # most entries (evicts the oldest beyond)
    int32_t size                     # ring slots in use: grows to cap as needed
    int64_t sum_e
    int64_t sum_q
    bint has_prev
    int64_t prev_pb
    int64_t prev_qb
    int64_t prev_pa
    int64_t prev_qa
    int32_t high_water               # most entries ever held
    int64_t forced_evictions

cdef struct MlofiWindow:             # multi-level ofi
    int32_t K
    int64_t* T
    int64_t* e                       # cap * K
    int64_t* depth
    int32_t head
    int32_t n
    int32_t cap                      # most entries (evicts the oldest beyond)
    int32_t size                     # ring slots in use: grows to cap as needed
    int64_t* sum_e                   # K
    int64_t sum_depth
    bint has_prev
    int32_t prev_nb
    int32_t prev_na
    int64_t* prev_bpx                # K each
    int64_t* prev_bqty
    int64_t* prev_apx
    int64_t* prev_aqty
    int32_t high_water               # most entries ever held
    int64_t forced_evictions

cdef struct VpinState:
    int64_t capacity                 # bucket size in units (lots * scale); 0: none
    int64_t scale
    bint calibrating
    bint has_t0
    int64_t t0
    int64_t cal_lots
    int64_t fill_buy
    int64_t fill_sell
    int64_t* ois                     # ring of the last n bucket imbalances
    int32_t ois_head
    int32_t ois_n
    int64_t ois_sum
    int64_t completed
    double value

cdef struct KyleState:
    bint has_open
    int64_t open_i
    int64_t open_end                 # (open_i + 1) * interval_ms
    int64_t open_x                   # signed notional of the open interval (exact)
    bint has_cur
    int64_t cur_m2
    bint has_prev
    int64_t prev_m2
    bint closed_any
    int64_t* X                       # ring of the last W pairs
    double* y
    int32_t head
    int32_t n
    int32_t run_len                  # newest entries equal to the newest X (Var = 0 test)
    int32_t y_run_len                # newest entries equal to the newest y (Cov = 0 test)
    int32_t updates                  # add/remove updates since the last re-sync
    # centred (Welford/West) moments of the window, in long double: the reference's
    # slope is exact, and small windows of mostly-zero x are ill-conditioned
    long double mx
    long double my
    long double cxx
    long double cxy
    double value
    int64_t resyncs

cdef struct LpiState:
    int64_t* hist_T                  # ring of the last lpi_history L1 states
    int64_t* hist_m2
    int32_t hist_head
    int32_t hist_n
    int64_t* pend_T                  # ring of pending trades, arrival order
    int64_t* pend_d
    int64_t* pend_px
    int64_t* pend_qty
    int64_t* pend_m2
    int32_t pend_head
    int32_t pend_n
    int32_t pend_cap
    int32_t pend_size                # ring slots in use: grows to pend_cap as needed
    int32_t pend_inversions          # adjacent pairs with T decreasing in arrival order
    double sw
    double swx
    bint has_t_prev
    int64_t t_prev
    double value
    int32_t pend_high_water
    int64_t forced_evictions

cdef struct NormState:
    int64_t count
    double mu
    double var
    double w                         # the weight of the data in var (section 8)
    int64_t t_prev

cdef struct BarState:
    bint has_start
    int64_t start
    bint has_closed_by_timer
    int64_t timer_closed_end         # end of the last bar the timer closed
    bint has_row
    bint has_trade
    int64_t o
    int64_t h
    int64_t l
    int64_t c
    int64_t vol
    int64_t buy
    int64_t sell
    int64_t count
    int64_t pq
    int64_t spread_sum
    int64_t spread_n

cdef struct StrategyState:
    int32_t target
    int64_t entry_T
    double entry_mid
    bint has_exit
    int64_t exit_T
    # hybrid: the model's probability in effect, and the next one from exchange time
    # model_p_from on (set between frames by sig_set_model_p)
    double model_p
    double model_p_next
    int64_t model_p_from

cdef struct SymbolSignals:
    SigParams p
    int32_t sym
    bint l1_from_book
    int32_t depth_n                  # levels read from the book per diff
    int64_t seq
    bint has_l1
    int64_t pb
    int64_t qb
    int64_t pa
    int64_t qa
    int64_t l1_T
    bint has_bbo_u
    int64_t last_bbo_u
    bint book_synced
    TradeWindow ti
    OfiWindow ofi
    MlofiWindow mlofi
    VpinState vpin
    KyleState kyle
    LpiState lpi
    bint has_ema
    double ema
    int64_t ema_t_prev
    NormState norms[N_NORM]
    BarState bars
    StrategyState strat
    double* di_weights               # decay ** (k - 1), k = 1..tobi_levels
    double* norm_decay               # 1 - exp(-dt / norm.tau_ms), dt < DECAY_TABLE
    double* dev_decay                # 1 - exp(-dt / dev.ema_ms), dt < DECAY_TABLE
    double* mlofi_vec                # ofi.levels values (lots -> base units), NaN when unset
    int64_t* top_bpx                 # scratch: the book's best depth_n levels
    int64_t* top_bqty
    int64_t* top_apx
    int64_t* top_aqty
    bint profile                     # count TSC cycles per family (benchmarks only)
    int64_t prof_cycles[N_PROF]
    int64_t prof_calls[N_PROF]
    IndicatorRow row                 # the values after the last event (carried)
    BarRow bar
    SignalRow signal

cdef int sig_init(SymbolSignals* st, const SigParams* p, int32_t sym,
                  bint l1_from_book) noexcept nogil
cdef void sig_free(SymbolSignals* st) noexcept nogil
cdef void sig_reset(SymbolSignals* st) noexcept nogil
cdef int sig_on_bbo(SymbolSignals* st, const Msg* m) noexcept nogil
cdef int sig_on_trade(SymbolSignals* st, const Msg* m) noexcept nogil
cdef int sig_on_depth(SymbolSignals* st, const L2Book* b, const Msg* m, int status) noexcept nogil
cdef void sig_on_snapshot(SymbolSignals* st, const L2Book* b) noexcept nogil
cdef void sig_on_reconnect(SymbolSignals* st) noexcept nogil
cdef int sig_finish(SymbolSignals* st) noexcept nogil
cdef int sig_on_timer(SymbolSignals* st, int64_t now_ms) noexcept nogil
cdef void sig_set_model_p(SymbolSignals* st, double p, int64_t from_ms) noexcept nogil

cdef int fill_sig_params(SigParams* out, object params) except -1

cdef class SignalParams:
    cdef SigParams c
