"""numba kernels of the group battery (eventstudy.inference): the group bootstrap, the
Kolari-Pynnonen date sums and Brown-Warner's estimation AAR. Loaded only through
`inference._group_kernels()` (the `fastpath.kernels_if_loaded` gate), so a small study never
imports numba; the numpy code in `inference` stays the reference and the fallback.

Kernels are `nogil` and never `parallel`: the callers split the work into fixed chunks (of
resamples, of pairs or of rows) run on `executors.kernel_threads()` threads and combine the
chunks in a fixed order, so a result never depends on the thread count or timing."""
from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass

import numba
import numpy as np
from numba.core import cgutils, types
from numba.core.cgutils import ir   # llvmlite.ir, as numba uses it (numba is the dependency)
from numba.extending import intrinsic

_NO_DATE = np.iinfo(np.int64).min
#: draws (pairs x resamples) from which a group's bootstrap counts on several threads: the
#: engine already runs the smaller groups' batteries side by side
BOOT_THREAD_MIN_DRAWS = 1 << 24
#: cells (rows x pairs, or z's entries) from which the other kernels run on several threads
THREAD_MIN_CELLS = 1 << 22
#: BW's AAR from the kernel from this many cells (rows x selected pairs) up: below, numpy's
#: (rows x pairs) temporaries stay in cache and it is as fast (5,000 pairs x 262 days)
AAR_MIN_CELLS = 1 << 22
#: a bootstrap table (pairs x windows) above this many bytes is read with prefetches, this many
#: draws ahead (measured: 500,000 pairs x 9 windows 11.7 -> 8.1 ns per draw; no gain in cache)
PREFETCH_MIN_BYTES = 2 << 20
PREFETCH_AHEAD = 16


def _threads() -> int:
    from eventstudy.executors import kernel_threads
    return kernel_threads()


def _run(fn, chunks, threads: int) -> list:
    """``fn(chunk)`` for every chunk, in order, on `threads` threads (1: here)."""
    from eventstudy.executors import kernel_map
    return kernel_map(fn, chunks, threads)


# --------------------------------------------------------------------------------------------
# the group bootstrap
# --------------------------------------------------------------------------------------------

@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch arr[idx] (a 1-d array) into cache: a resample's draws are known
    ahead, so the rows of a table bigger than the cache are asked for before they are read."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def _lcg_step(typingctx, hi, lo, ihi, ilo):
    """PCG64's state step, state * multiplier + increment mod 2^128, in LLVM's native 128-bit
    integers; returns the new (high, low) 64-bit halves."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64)

    def codegen(context, builder, signature, args):
        i64, i128 = ir.IntType(64), ir.IntType(128)

        def join(h, lo_):
            return builder.or_(builder.shl(builder.zext(h, i128), ir.Constant(i128, 64)),
                               builder.zext(lo_, i128))
        state = builder.add(builder.mul(join(args[0], args[1]),
                                        ir.Constant(i128, 0x2360ED051FC65DA44385DF649FCCF645)),
                            join(args[2], args[3]))
        high = builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64)
        return context.make_tuple(builder, signature.return_type,
                                  [high, builder.trunc(state, i64)])
    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _one_class(idx_row, k, cls):
    """Do the draws of one resample that fall on window k's pairs lie in one tie class?"""
    first = -1
    for i in range(idx_row.shape[0]):
        c = cls[idx_row[i], k]
        if c < 0:
            continue
        if first < 0:
            first = c
        elif c != first:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _judge(m, a1, a2, sdk, thrk, rel_tol):
    """One window of one resample from its size m, sum a1 and sum of squares a2: 0 left out
    (size < 2, spread not above rel_tol * sdk), else 1 (kept) + 2 (|t| reaches thrk) + 4
    (the computed variance is within rounding of 0: kept only if its draws on the window are
    not all of one tie class, which the caller checks). Draws all of one class have variance
    exactly 0, whose computed value is below 8 m eps a2 / (m - 1) for sums of m terms added in
    any order (each sum's error is below (m - 1) eps times its terms' absolute sum)."""
    if m < 2:
        return 0
    mb = a1 / m
    vb = (a2 - a1 * mb) / (m - 1)
    sb = np.sqrt(max(vb, 0.0))
    if not sb > rel_tol * sdk:
        return 0
    v = 1
    if vb * (m - 1) <= 8.0 * m * 2.220446049250313e-16 * a2:
        v += 4
    tb = mb / (sb / np.sqrt(m))
    if np.abs(tb) >= thrk:
        v += 2
    return v


@numba.njit(cache=True, nogil=True)
def _resample(row, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept, s1, s2, kb, ahead):
    """One resample (the draws `row`) for every window at once: its draws walked once, in
    draw order, adding per window the sum and sum of squares (`y` is 0 off the window, so the
    sums need no branch) and taking from the size n the draws on pairs off the window
    (`miss_k[miss_ptr[j]:miss_ptr[j + 1]]`: the windows pair j lacks, mostly none). Adds to
    `hits` / `kept` (per window) whether it is kept (size >= 2, spread above rel_tol * sd, not
    all of one tie class) and whether its |t| reaches `thr`.

    The tie-class walk (`cls`: class within the window, -1 off it) is only needed where the
    computed variance is within rounding of 0: draws all of one class have variance exactly
    0, whose computed value is below 8 k eps s2 / (k - 1) (sequential sums of k terms)."""
    n = row.shape[0]
    W = y.shape[1]
    s1[:] = 0.0
    s2[:] = 0.0
    kb[:] = n
    yf = y.ravel()
    for i in range(n):
        if ahead > 0 and i + ahead < n:      # a big table: ask for a later draw's row now
            a = row[i + ahead] * W
            _prefetch(yf, a)
            _prefetch(yf, a + W - 1)
        j = row[i]
        for k in range(W):
            v = y[j, k]
            s1[k] += v
            s2[k] += v * v
        for e in range(miss_ptr[j], miss_ptr[j + 1]):
            kb[miss_k[e]] -= 1
    for k in range(W):
        v = _judge(kb[k], s1[k], s2[k], sd[k], thr[k], rel_tol)
        if v & 4 and _one_class(row, k, cls):
            continue
        kept[k] += v & 1
        hits[k] += (v >> 1) & 1


@numba.njit(cache=True, nogil=True)
def bootstrap_block(idx, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept, ahead):
    """:func:`_resample` for each row of draws of `idx`."""
    W = y.shape[1]
    s1, s2, kb = np.zeros(W), np.zeros(W), np.zeros(W, np.int64)
    for b in range(idx.shape[0]):
        _resample(idx[b], y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept, s1, s2, kb,
                  ahead)


# numpy's default generator, PCG64 (XSL-RR 128/64), and Generator.integers(0, n) for n <= 2^32:
# Lemire's bounded 32-bit draws from the generator's 32-bit outputs (the low then the high
# half of each 64-bit output, the half left over kept in the generator's state between calls,
# so the stream does not depend on how it is cut into blocks). The tests hold it equal to
# numpy's draws, bit for bit.
_U = np.uint64
_M32 = _U(0xFFFFFFFF)


@numba.njit(cache=True, nogil=True)
def _draw(st, n, out):
    """Fill `out` (1-d int64) with integers(0, n) draws; `st` (uint64[6]: state high, low,
    increment high, low, has_uint32, uinteger) is advanced in place."""
    hi, lo, ihi, ilo, has, buf = st[0], st[1], st[2], st[3], st[4], st[5]
    excl = _U(n)
    threshold = (_M32 - _U(n - 1)) % excl
    for i in range(out.shape[0]):
        out[i], hi, lo, has, buf = _next_draw(hi, lo, ihi, ilo, has, buf, excl, threshold)
    st[0], st[1], st[2], st[3], st[4], st[5] = hi, lo, ihi, ilo, has, buf


@numba.njit(cache=True, nogil=True, inline="always")
def _next_draw(hi, lo, ihi, ilo, has, buf, excl, threshold):
    """One integers(0, n) draw (excl = n, threshold = (2^32 - n) mod n): the draw and the
    state's new hi, lo, has, buf."""
    while True:
        if has != _U(0):
            has = _U(0)
            x = buf
        else:
            hi, lo = _lcg_step(hi, lo, ihi, ilo)
            xs = hi ^ lo
            rot = hi >> _U(58)
            r64 = (xs >> rot) | (xs << ((_U(64) - rot) & _U(63)))
            has = _U(1)
            buf = r64 >> _U(32)
            x = r64 & _M32
        m = x * excl
        if (m & _M32) >= threshold:
            return np.int64(m >> _U(32)), hi, lo, has, buf


@numba.njit(cache=True, nogil=True)
def draw_block(st, n, out):
    """`rng.integers(0, n, size=out.shape)` into the C-ordered 2-d `out`."""
    for b in range(out.shape[0]):
        _draw(st, n, out[b])


@numba.njit(cache=True, nogil=True)
def bootstrap_drawn(st, n, n_rows, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept,
                    ahead):
    """`n_rows` resamples drawn here (one row of n draws at a time) and counted: no block of
    draws is written out and read back."""
    W = y.shape[1]
    s1, s2, kb = np.zeros(W), np.zeros(W), np.zeros(W, np.int64)
    row = np.empty(n, np.int64)
    for b in range(n_rows):
        _draw(st, n, row)
        _resample(row, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept, s1, s2, kb,
                  ahead)


# the blocked bootstrap: the table read a chunk of pairs at a time, for a batch of resamples

@numba.njit(cache=True, nogil=True)
def _bucket_run(row, i0, shift, bucket, pos, end):
    """Bucket the draws row[i0:] by chunk (a draw stored as its row within the chunk, at
    pos[c], then pos[c] + 1) up to the first whose bucket is full (pos[c] == end[c]): returns
    its index (or len(row)). Unsigned indices: no negative-index wraparound per access."""
    one = np.uint64(1)
    sh = np.uint64(shift)
    mask = (one << sh) - one
    n = np.uint64(row.shape[0])
    i = np.uint64(i0)
    while i < n:
        j = np.uint64(row[i])
        c = j >> sh
        p = pos[c]
        if p == end[c]:
            return np.int64(i)
        bucket[p] = j & mask
        pos[c] = p + one
        i += one
    return np.int64(n)


@numba.njit(cache=True, nogil=True)
def _fill(st, n, rows, shift, row, bucket, start, end, pos, lo, hi, snap, y, miss_ptr, miss_k,
          cnt, s1, s2, kb):
    """Draw `rows` resamples of n draws (the stream of :func:`_draw`, `st` advanced; each
    into `row`) and put them in buckets by chunk of pairs (chunk c: the pairs from c 2^shift;
    its bucket: bucket[start[c]:end[c]]), a draw stored as its row within the chunk:
    resample b's draws on chunk c are bucket[lo[b, c]:hi[b, c]], in draw order. `snap[b]` is
    the state before resample b (its draws can be drawn again). Sets the batch's sums s1, s2
    (window x resample) to 0 and the sizes kb to n. A full bucket (rare: a bucket holds its
    mean plus some standard deviations) has the buckets counted at once (:func:`_count`) and
    emptied (the resamples before this one left with no draws in them)."""
    nch = start.shape[0]
    s1[:, :rows] = 0.0
    s2[:, :rows] = 0.0
    kb[:, :rows] = n
    for c in range(nch):
        pos[c] = start[c]
    L = row.shape[0]
    for b in range(rows):
        snap[b, :] = st
        for c in range(nch):
            lo[b, c] = pos[c]
        for a in range(0, n, L):             # the draws a piece at a time (`row` in L1)
            piece = row[:min(L, n - a)]
            _draw(st, n, piece)
            i = _bucket_run(piece, 0, shift, bucket, pos, end)
            while i < piece.shape[0]:        # a full bucket: count the buckets, empty them
                for c in range(nch):
                    hi[b, c] = pos[c]
                _count(bucket, lo, hi, b + 1, shift, y, miss_ptr, miss_k, cnt, s1, s2, kb)
                for b2 in range(b):          # counted: their draws are gone
                    for c in range(nch):
                        lo[b2, c] = hi[b2, c]
                for c in range(nch):
                    pos[c] = start[c]
                    lo[b, c] = start[c]
                i = _bucket_run(piece, i, shift, bucket, pos, end)
        for c in range(nch):
            hi[b, c] = pos[c]


@numba.njit(cache=True, nogil=True)
def _count(bucket, lo, hi, rows, shift, y, miss_ptr, miss_k, cnt, s1, s2, kb):
    """Add the bucketed draws of resamples 0..rows to their sums s1[k, b], s2[k, b] and take
    the draws on pairs off window k from the sizes kb[k, b], a chunk of pairs at a time: the
    chunk's draw counts per pair and resample, cnt[i, b] (uint32, kept zero between calls),
    then the counts times the chunk's rows of y (and y^2) added for every resample, four
    pairs at a time in pair order (s += (c_0 y_0 + c_1 y_1) + (c_2 y_2 + c_3 y_3)): a
    resample's sums are counts @ y, as the numpy path's, in a fixed order. The chunk's rows
    of y and its counts stay in L2 while read."""
    N, W = y.shape
    nch = lo.shape[1]
    cc = np.empty((4, rows))
    for c in range(nch):
        base = c << shift
        j_end = min(base + (np.int64(1) << shift), N)
        for b in range(rows):
            for e in range(lo[b, c], hi[b, c]):
                cnt[np.uint64(bucket[e]), b] += np.uint32(1)
        j = base
        while j < j_end:
            m = min(4, j_end - j)
            for r in range(m):
                for b in range(rows):
                    cc[r, b] = cnt[j - base + r, b]
                    cnt[j - base + r, b] = 0
            for r in range(m, 4):
                for b in range(rows):
                    cc[r, b] = 0.0
            c0, c1, c2, c3 = cc[0], cc[1], cc[2], cc[3]
            for k in range(W):
                v0 = y[j, k]
                v1 = y[j + 1, k] if m > 1 else 0.0
                v2 = y[j + 2, k] if m > 2 else 0.0
                v3 = y[j + 3, k] if m > 3 else 0.0
                q0, q1, q2, q3 = v0 * v0, v1 * v1, v2 * v2, v3 * v3
                for b in range(rows):
                    s1[k, b] += (c0[b] * v0 + c1[b] * v1) + (c2[b] * v2 + c3[b] * v3)
                    s2[k, b] += (c0[b] * q0 + c1[b] * q1) + (c2[b] * q2 + c3[b] * q3)
            for r in range(m):
                for q in range(miss_ptr[j + r], miss_ptr[j + r + 1]):
                    k = miss_k[q]
                    for b in range(rows):
                        kb[k, b] -= cc[r, b]
            j += m


@numba.njit(cache=True, nogil=True)
def _finish(bucket, lo, hi, rows, shift, y, miss_ptr, miss_k, cnt, s1, s2, kb, snap,
            n, cls, sd, thr, rel_tol, hits, kept):
    """Count what the buckets still hold and judge the batch's resamples as :func:`_resample`
    does (:func:`_judge`), adding to hits / kept: a resample whose variance is within rounding
    of 0 is drawn again (from its state `snap[b]`) for the tie-class check."""
    _count(bucket, lo, hi, rows, shift, y, miss_ptr, miss_k, cnt, s1, s2, kb)
    W = y.shape[1]
    row = np.empty(0, np.int64)
    drawn = -1
    for b in range(rows):
        for k in range(W):
            v = _judge(np.int64(kb[k, b]), s1[k, b], s2[k, b], sd[k], thr[k], rel_tol)
            if v & 4:
                if drawn != b:
                    if row.shape[0] == 0:
                        row = np.empty(n, np.int64)
                    _draw(snap[b].copy(), n, row)
                    drawn = b
                if _one_class(row, k, cls):
                    continue
            kept[k] += v & 1
            hits[k] += (v >> 1) & 1


#: a group of this many pairs up is bootstrapped in blocks: batches of BLOCK_BATCH
#: resamples, their draws bucketed by chunk of pairs and counted a chunk at a time (the
#: chunk's rows of the table and its counts: at most BLOCK_CHUNK_BYTES, in L2). Below, each
#: resample walks its draws (a batch's fixed costs outweigh its gain). Measured, CPU ns a
#: draw, 9 windows, one thread, walk -> blocked (a busy machine): 30 pairs 12.7 -> 17.5, 200
#: pairs 5.6 -> 6.3, 500 pairs 4.8 -> 4.0, 1,000 pairs 4.9 -> 3.5, 5,000 pairs 4.9 -> 3.1,
#: 500,000 pairs (a 36 MB table) 22 -> 3.4
BLOCK_MIN_PAIRS = 512
#: (measured at 500,000 pairs x 9 windows, CPU ns a draw, drawing / counting a batch: 8
#: resamples 1.7 / 4.0 (the counts' loops vectorize from 16), 16: 1.6 / 1.5, 32: 1.8 / 1.3)
BLOCK_BATCH = 16
BLOCK_CHUNK_BYTES = 512 << 10
#: batches in flight (one being drawn, the others counted on the pool): at most
#: BLOCK_SETS_MAX, and beyond 2 only while their buckets (2 bytes a draw: 16 MB a batch at
#: 500,000 pairs) stay within BLOCK_BUCKETS_BYTES
BLOCK_SETS_MAX = 3
BLOCK_BUCKETS_BYTES = 64 << 20
#: a bucket holds its mean number of draws plus this many standard deviations (and 64)
BUCKET_SLACK_SDS = 6.0


#: buckets up to this many bytes are a thread's scratch, kept for its next groups (fresh
#: memory costs page faults); bigger ones (the big groups', on several threads) are the call's
SCRATCH_BUCKET_BYTES = 4 << 20


def _scratch(name: str, count: int, dtype) -> np.ndarray:
    """`count` items of `dtype` from this thread's scratch buffer `name` (contents left)."""
    from eventstudy.executors import thread_buffer
    size = -(-count * np.dtype(dtype).itemsize // 8)
    return thread_buffer(name, max(size, 1)).view(dtype)[:count]


class _Batch:
    """One batch's buffers (reused batch after batch): buckets, bounds, states and sums."""

    def __init__(self, start, end, rows, W, scratch):
        nch = len(start)
        size = int(end[-1])
        self.bucket = _scratch("boot_bucket", size, np.uint16) if scratch else \
            np.empty(size, np.uint16)
        self.pos = np.empty(nch, np.uint64)
        self.lo = np.empty((rows, nch), np.int64)
        self.hi = np.empty((rows, nch), np.int64)
        self.snap = np.empty((rows, 6), np.uint64)
        self.s1 = np.empty((W, rows))
        self.s2 = np.empty((W, rows))
        self.kb = np.empty((W, rows))
        self.rows = 0


def _chunk_shift(W: int, B: int) -> int:
    """log2 of the pairs per chunk: the largest power of 2 whose rows of W float64 and
    counts of B uint32 fit in BLOCK_CHUNK_BYTES (between 2^4 and 2^16: a row within the
    chunk is a uint16)."""
    rows = max(1, BLOCK_CHUNK_BYTES // (8 * max(W, 1) + 4 * B))
    return int(min(16, max(4, rows.bit_length() - 1)))


def bootstrap_blocked(st, n: int, n_boot: int, y, miss_ptr, miss_k, cls, sd, thr,
                      rel_tol: float, threads: int):
    """Hits and kept per window for `n_boot` resamples drawn from `st` (the stream of
    :func:`bootstrap_drawn`: the same resamples), in batches of BLOCK_BATCH: a batch drawn
    into buckets (:func:`_fill`), then counted chunk by chunk and judged (:func:`_finish`).
    On several threads, this thread draws a batch while the pool counts earlier ones (at most
    `threads` - 1, and BLOCK_SETS_MAX - 1, at a time, a batch's buckets each: 16 MB at
    500,000 pairs). A batch is counted by the same calls whatever the threads: the same sums;
    hits and kept are integer counts."""
    W = y.shape[1]
    B = max(1, min(BLOCK_BATCH, n_boot))
    shift = _chunk_shift(W, B)
    C = 1 << shift
    nch = -(-n // C)
    size = np.full(nch, C, np.int64)
    size[-1] = n - (nch - 1) * C
    mean = B * size
    cap = np.maximum(1, mean + (BUCKET_SLACK_SDS * np.sqrt(mean)).astype(np.int64)
                     + (64 if BUCKET_SLACK_SDS >= 0 else 0))
    end = np.cumsum(cap).astype(np.uint64)
    start = end - cap.astype(np.uint64)
    batches = [min(B, n_boot - b0) for b0 in range(0, n_boot, B)]
    n_sets = max(1, min(threads, len(batches), BLOCK_SETS_MAX,
                        max(2, BLOCK_BUCKETS_BYTES // (2 * int(end[-1])))))
    scratch = n_sets == 1 and 2 * int(end[-1]) <= SCRATCH_BUCKET_BYTES
    sets = [_Batch(start, end, B, W, scratch) for _ in range(n_sets)]
    rows_c = min(C, n)                          # a chunk's pairs, at most

    def counts():
        """This thread's (pairs of a chunk, resamples) counts, zero."""
        cnt = _scratch("boot_counts", rows_c * B, np.uint32).reshape(rows_c, B)
        cnt[:] = 0
        return cnt

    def fill(s, rows):
        s.rows = rows
        row = _scratch("boot_row", min(n, 2048), np.uint32)    # draws a piece at a time
        _fill(st, n, rows, shift, row, s.bucket, start, end, s.pos, s.lo, s.hi, s.snap, y,
              miss_ptr, miss_k, counts(), s.s1, s.s2, s.kb)

    def finish(s):
        h, k = np.zeros(W, np.int64), np.zeros(W, np.int64)
        _finish(s.bucket, s.lo, s.hi, s.rows, shift, y, miss_ptr, miss_k, counts(), s.s1,
                s.s2, s.kb, s.snap, n, cls, sd, thr, rel_tol, h, k)
        return h, k

    parts = []
    if n_sets < 2:
        for rows in batches:
            fill(sets[0], rows)
            parts.append(finish(sets[0]))
    else:
        with cf.ThreadPoolExecutor(n_sets - 1, thread_name_prefix="eventstudy-boot") as pool:
            pending = []
            for i, rows in enumerate(batches):
                if len(pending) == n_sets:        # the batch that used these buffers
                    parts.append(pending.pop(0).result())
                s = sets[i % n_sets]
                fill(s, rows)
                pending.append(pool.submit(finish, s))
            parts.extend(f.result() for f in pending)
    hits = np.zeros(W, np.int64)
    kept = np.zeros(W, np.int64)
    for h, k in parts:
        hits += h
        kept += k
    return hits, kept


_SAME_STREAM: list = []      # [bool]: _draw reproduces this numpy's integers (checked once)


def _same_stream() -> bool:
    """Whether :func:`_draw` gives this numpy's `Generator.integers` bits: numpy does not
    promise its bounded-integer method across releases, so a release that changed it makes
    the kernel draw with numpy instead of silently drawing another stream."""
    if not _SAME_STREAM:
        ok = True
        for n in (2, 7, 500_000, (1 << 32) - 5, 1 << 32):
            want = np.random.default_rng(n).integers(0, n, size=(3, 50))
            rng = np.random.default_rng(n)
            got = np.empty((3, 50), np.int64)
            draw_block(_state_of(rng), n, got)
            ok &= bool(np.array_equal(want, got))
        _SAME_STREAM.append(ok)
    return _SAME_STREAM[0]


def pcg_state(rng) -> np.ndarray | None:
    """The uint64[6] state :func:`_draw` advances, or None if `rng` is not numpy's PCG64 (or
    this numpy's draws are not the kernel's)."""
    if rng.bit_generator.state.get("bit_generator") != "PCG64" or not _same_stream():
        return None
    return _state_of(rng)


def _state_of(rng) -> np.ndarray:
    s = rng.bit_generator.state
    m = (1 << 64) - 1
    S, inc = s["state"]["state"], s["state"]["inc"]
    return np.array([S >> 64, S & m, inc >> 64, inc & m, s["has_uint32"], s["uinteger"]],
                    dtype=np.uint64)


def bootstrap_counts(rng, n: int, n_boot: int, step: int, y, member, cls, sd, thr,
                     rel_tol: float, threads: int | None = None):
    """Hits and kept resamples per window for `n_boot` resamples of `n` draws: the stream of
    `rng.integers(0, n, size=(rows, n))` in blocks of `step` rows (the numpy path's draws),
    generated here by :func:`_draw` (the same bits, half the time, no block written out) or,
    for a generator other than PCG64 or n > 2^32, by numpy. From BLOCK_MIN_PAIRS pairs up
    (PCG64): :func:`bootstrap_blocked`. Else, on one thread each resample is drawn and counted
    in one kernel; on more, this thread draws blocks while the pool counts earlier ones (each
    cut into fixed pieces of rows). Hits and kept counts are integers: their sums do not
    depend on the order."""
    if threads is None:
        threads = _threads() if n * n_boot >= BOOT_THREAD_MIN_DRAWS else 1
    W = y.shape[1]
    y = np.ascontiguousarray(y, dtype=float)
    off_r, off_k = np.nonzero(~np.asarray(member, dtype=bool))     # (pair, window) off it
    miss_ptr = np.concatenate([[0], np.cumsum(np.bincount(off_r, minlength=n))]).astype(np.int64)
    miss_k = off_k.astype(np.int64)
    cls = np.ascontiguousarray(cls, dtype=np.int64)
    sd = np.ascontiguousarray(sd, dtype=float)
    thr = np.ascontiguousarray(thr, dtype=float)
    hits = np.zeros(W, np.int64)
    kept = np.zeros(W, np.int64)
    st = pcg_state(rng) if 2 <= n <= 1 << 32 else None
    if st is not None and n >= BLOCK_MIN_PAIRS:
        return bootstrap_blocked(st, n, n_boot, y, miss_ptr, miss_k, cls, sd, thr, rel_tol,
                                 threads)
    ahead = PREFETCH_AHEAD if y.nbytes > PREFETCH_MIN_BYTES else 0
    if st is not None and threads < 2:
        bootstrap_drawn(st, n, n_boot, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, hits, kept,
                        ahead)
        return hits, kept

    ring = []                       # blocks of draws reused (fresh pages cost page faults)

    def draws(rows, b):
        if st is None:
            return rng.integers(0, n, size=(rows, n))
        if len(ring) <= b % 4:
            ring.append(np.empty((step, n), np.int64))
        out = ring[b % 4][:rows]
        draw_block(st, n, out)
        return out

    def count(rows):
        h, k = np.zeros(W, np.int64), np.zeros(W, np.int64)
        bootstrap_block(rows, y, miss_ptr, miss_k, cls, sd, thr, rel_tol, h, k, ahead)
        return h, k

    parts = []
    if threads < 2:
        for b, b0 in enumerate(range(0, n_boot, step)):
            parts.append(count(draws(min(step, n_boot - b0), b)))
    else:
        with cf.ThreadPoolExecutor(threads, thread_name_prefix="eventstudy-boot") as pool:
            pending = []
            for b, b0 in enumerate(range(0, n_boot, step)):
                if len(pending) == 3:         # at most 3 blocks counting, a 4th being drawn
                    parts.extend(f.result() for f in pending.pop(0))
                idx = draws(min(step, n_boot - b0), b)
                cut = np.linspace(0, len(idx), threads + 1).astype(np.int64)
                pending.append([pool.submit(count, idx[a:e]) for a, e in zip(cut[:-1], cut[1:])
                                if e > a])
            for fs in pending:
                parts.extend(f.result() for f in fs)
    for h, k in parts:
        hits += h
        kept += k
    return hits, kept


# --------------------------------------------------------------------------------------------
# Brown-Warner: the estimation AAR over a selection of pairs
# --------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _aar_rows(ar, is_est, cols, r0, r1, s, cnt):
    """Rows r0..r1 of the estimation AAR's sums and counts over the pairs `cols`: a row's
    values gathered (0 where missing, as the numpy path's array) and summed the way numpy sums
    a row (pairwise), so the same bits as the numpy path, whatever the split into rows."""
    n = cols.shape[0]
    buf = np.empty(n)
    for r in range(r0, r1):
        c = 0
        for q in range(n):
            p = cols[q]
            v = ar[r, p]
            ok = is_est[r, p] and np.isfinite(v)
            buf[q] = v if ok else 0.0
            c += ok
        s[r] = _pairwise_sum(buf, n)
        cnt[r] = c


@numba.njit(cache=True, nogil=True)
def _aar_days(ar, is_est, cols):
    """Rows where some pair of `cols` has a finite estimation AR (stops at the first)."""
    days = 0
    for r in range(ar.shape[0]):
        for q in range(cols.shape[0]):
            p = cols[q]
            if is_est[r, p] and np.isfinite(ar[r, p]):
                days += 1
                break
    return days


_ROWS_PER_CHUNK = 16


def aar_sums(g, sel: np.ndarray, threads: int | None = None):
    """(sums, counts) per row of g's estimation ARs over the selected pairs; rows in fixed
    chunks on `threads` threads."""
    D = g.ar.shape[0]
    cols = np.flatnonzero(sel).astype(np.int64)
    s = np.zeros(D)
    cnt = np.zeros(D, np.int64)
    threads = (_threads() if D * len(cols) >= THREAD_MIN_CELLS else 1) if threads is None else threads
    _run(lambda r0: _aar_rows(g.ar, g.is_est, cols, r0, min(r0 + _ROWS_PER_CHUNK, D), s, cnt),
         list(range(0, D, _ROWS_PER_CHUNK)), threads)
    return s, cnt


def aar_days(g, sel: np.ndarray) -> int:
    return int(_aar_days(g.ar, g.is_est, np.flatnonzero(sel).astype(np.int64)))


# --------------------------------------------------------------------------------------------
# Kolari-Pynnonen: the date-sums rows z and the per-pattern sums
# --------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _pairwise_leaf(a, lo, n):
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    m = n - n % 8
    for i in range(8, m, 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        res += a[lo + i]
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a, n):
    """numpy's pairwise summation of a[:n] (what ``x.sum(axis=1)`` does on a C-ordered row:
    blocks of <= 128 summed in 8 lanes, halves added), so the numpy path's per-pair sums bit
    for bit. The halving recursion walked with an explicit stack (numba's disk cache does not
    keep recursive functions)."""
    if n <= 128:
        return _pairwise_leaf(a, 0, n)
    los = np.zeros(64, np.int64)
    ns = np.zeros(64, np.int64)
    state = np.zeros(64, np.int64)         # 0: new, 1: left half running, 2: right running
    left = np.zeros(64)
    sp = 0
    ns[0] = n
    while True:
        m = ns[sp]
        if m > 128:
            state[sp] = 1
            h = m // 2
            h -= h % 8
            los[sp + 1], ns[sp + 1], state[sp + 1] = los[sp], h, 0
            sp += 1
            continue
        val = _pairwise_leaf(a, los[sp], m)
        while True:                         # hand the value up
            if sp == 0:
                return val
            sp -= 1
            if state[sp] == 1:              # the left half: start the right one
                left[sp] = val
                state[sp] = 2
                h = ns[sp] // 2
                h -= h % 8
                los[sp + 1], ns[sp + 1], state[sp + 1] = los[sp] + h, ns[sp] - h, 0
                sp += 1
                break
            val = left[sp] + val            # the right half: this node is done


@numba.njit(cache=True, nogil=True)
def _z_stats(ar, is_est, date, cal, pos, use_cal, c0, c1, T, S, first, last, mean, ss, moved):
    """Per pair of c0..c1: finite dated estimation ARs (T), dated estimation rows (S), the
    ARs' first and last dates, their mean and the sum of squared deviations from it (in date
    order), and (dates given per cell) whether its dates differ from the pair before's
    (`moved`). A tile of pairs' ARs is first copied pair-major (zeros where missing, as the
    numpy path's array) so that the mean is numpy's pairwise sum, bit for bit."""
    D = ar.shape[0]
    B = max(16, min(256, (1 << 19) // max(D, 1)))   # pairs per tile: its copy stays in L2
    x = np.zeros((B, D))
    ok = np.zeros((B, D), np.bool_)
    for t0 in range(c0, c1, B):
        t1 = min(t0 + B, c1)
        for r in range(D):                   # rows outer: a row's pairs are adjacent
            for p in range(t0, t1):
                q = p - t0
                x[q, r] = 0.0
                ok[q, r] = False
                if not use_cal and p > 0 and date[r, p] != date[r, p - 1]:
                    moved[p] = True
                if not is_est[r, p]:
                    continue
                d = cal[pos[p] + r] if use_cal else date[r, p]
                if d == _NO_DATE:
                    continue
                S[p] += 1
                v = ar[r, p]
                if np.isfinite(v):
                    x[q, r] = v
                    ok[q, r] = True
                    T[p] += 1
                    if d < first[p]:
                        first[p] = d
                    if d > last[p]:
                        last[p] = d
        for p in range(t0, t1):
            q = p - t0
            m = _pairwise_sum(x[q], D) / max(T[p], 1)
            acc = 0.0
            for r in range(D):
                if ok[q, r]:
                    dv = x[q, r] - m
                    acc += dv * dv
            mean[p] = m
            ss[p] = acc


_PAIRS_PER_CHUNK = 2048


@dataclass(frozen=True)
class ZRows:
    """z of `inference._date_sums_base` without z: a pair's row is z_it = (ar[r, i] -
    mean_i) * scale_i on its dated finite estimation rows r (t = the row's date), read from
    the root matrix's arrays when a sum needs it. Per pair only what the rows cannot give (6
    numbers, 48 bytes; z itself was 12 bytes per residual: 1.4 GB at 500,000 pairs)."""

    ar: np.ndarray          # (D, P) the root matrix's arrays (not copied)
    is_est: np.ndarray
    date: np.ndarray        # (D, P), or a dummy when dates are cal[pos + row]
    cal: np.ndarray
    pos: np.ndarray
    use_cal: bool
    key: np.ndarray         # (P,) pairs with the same key have the same date on every row
    mean: np.ndarray        # (P,) the pair's mean residual
    scale: np.ndarray       # (P,) 1 / (sd sqrt(S) c), 0 for a pair left out (too few, flat)
    q: np.ndarray           # (P,) sum_t z_it^2
    first: np.ndarray       # (P,) the first and last date of a residual (int64 max / min:
    last: np.ndarray        #      none)


def date_sums_rows(g, min_overlap: int, threads: int | None = None) -> ZRows:
    """`inference._date_sums_rows`'s numbers (z's per-pair scale and q) in one pass over the
    (D, P) arrays, a chunk of pairs at a time (each pair's numbers are its own: any split
    gives the same bits), with no (pairs x days) temporaries and no z. The means are numpy's
    bits; the sums of squares are summed in order (numpy: einsum), a last-bit difference in
    the scale."""
    D, P = g.ar.shape
    use_cal = g.date is None
    date = np.zeros((1, 1), np.int64) if use_cal else g.date
    cal = np.asarray(g.cal, np.int64) if use_cal else np.zeros(1, np.int64)
    pos = np.asarray(g.pos, np.int64) if use_cal else np.zeros(1, np.int64)
    chunks = [(c, min(c + _PAIRS_PER_CHUNK, P)) for c in range(0, P, _PAIRS_PER_CHUNK)]
    threads = (_threads() if D * P >= THREAD_MIN_CELLS else 1) if threads is None else threads
    T = np.zeros(P, np.int64)
    S = np.zeros(P, np.int64)
    first = np.full(P, np.iinfo(np.int64).max)
    last = np.full(P, np.iinfo(np.int64).min)
    mean = np.zeros(P)
    ss = np.zeros(P)
    moved = np.zeros(P, bool)
    _run(lambda c: _z_stats(g.ar, g.is_est, date, cal, pos, use_cal, c[0], c[1], T, S, first,
                            last, mean, ss, moved), chunks, threads)
    # the calendar of a pair: its row 0 on cal, or its run of identical date columns
    key = pos if use_cal else np.cumsum(moved)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(S) / np.sqrt(ss * T)
    scale[~((T >= max(min_overlap, 2)) & (ss > 0) & np.isfinite(scale))] = 0.0
    return ZRows(g.ar, g.is_est, date, cal, pos, use_cal, key, mean, scale,
                 ss * scale * scale, first, last)


@numba.njit(cache=True, nogil=True)
def _z_sums(ar, is_est, date, cal, pos, use_cal, mean, scale, key, cols, grp, v, o0, o1, d0,
            t0, t1, out):
    """out[grp[k], t - d0] += v[k] * z[cols[k], t] for k in o0..o1 and the dates t in
    [d0 + t0, d0 + t1), each cell's pairs added in pair order, as scipy's csr product
    member @ z and np.bincount over z's rows add them.

    A run of pairs of one group that share their calendar (the same `key`: a row is one date
    for all of them) is read with the rows outer, a row's pairs adjacent in ar: the row's
    date is the run's, so its cell gets the run's pairs in pair order, summed in a register.
    Four rows (four dates) at a time: four independent sums, not one chain of additions."""
    D = ar.shape[0]
    rr = np.empty(D, np.int64)
    tt = np.empty(D, np.int64)
    k = o0
    while k < o1:
        k1 = k + 1
        while k1 < o1 and key[cols[k1]] == key[cols[k]] and grp[k1] == grp[k]:
            k1 += 1
        g = grp[k]
        p0 = cols[k]
        n = 0                                # the run's rows with a date in range
        for r in range(D):
            d = cal[pos[p0] + r] if use_cal else date[r, p0]
            t = d - d0
            if d != _NO_DATE and t >= t0 and t < t1:
                rr[n] = r
                tt[n] = t
                n += 1
        i = 0
        while i + 4 <= n and tt[i] != tt[i + 1] and tt[i] != tt[i + 2] and \
                tt[i] != tt[i + 3] and tt[i + 1] != tt[i + 2] and tt[i + 1] != tt[i + 3] and \
                tt[i + 2] != tt[i + 3]:
            ra, rb, rc, rd = rr[i], rr[i + 1], rr[i + 2], rr[i + 3]
            sa, sb = out[g, tt[i]], out[g, tt[i + 1]]
            sc, sd = out[g, tt[i + 2]], out[g, tt[i + 3]]
            for j in range(k, k1):
                p = cols[j]
                m = mean[p]
                f = scale[p]
                w = v[j]
                a = ar[ra, p]
                if is_est[ra, p] and np.isfinite(a):
                    sa += w * ((a - m) * f)
                a = ar[rb, p]
                if is_est[rb, p] and np.isfinite(a):
                    sb += w * ((a - m) * f)
                a = ar[rc, p]
                if is_est[rc, p] and np.isfinite(a):
                    sc += w * ((a - m) * f)
                a = ar[rd, p]
                if is_est[rd, p] and np.isfinite(a):
                    sd += w * ((a - m) * f)
            out[g, tt[i]], out[g, tt[i + 1]] = sa, sb
            out[g, tt[i + 2]], out[g, tt[i + 3]] = sc, sd
            i += 4
        for i in range(i, n):                # the last rows (and rows sharing a date) one by one
            r = rr[i]
            acc = out[g, tt[i]]
            for j in range(k, k1):
                p = cols[j]
                a = ar[r, p]
                if is_est[r, p] and np.isfinite(a):
                    acc += v[j] * ((a - mean[p]) * scale[p])
            out[g, tt[i]] = acc
        k = k1


@numba.njit(cache=True, nogil=True)
def _date_rows(G, ent_p, ent_d, n_dates):
    """S[d] = sum of G[p] over the (pattern, date) entries (sorted by date, then pattern)."""
    S = np.zeros((n_dates, G.shape[1]))
    for e in range(ent_p.shape[0]):
        d = ent_d[e]
        p = ent_p[e]
        for t in range(G.shape[1]):
            S[d, t] += G[p, t]
    return S


def _pattern_sums(zr: ZRows, cols, grp, n_grp: int, v, d0: int, width: int,
                  threads: int | None) -> np.ndarray:
    """G (n_grp, width): G[g, t] = sum of v_k z[cols[k], d0 + t] over the pairs k of group
    grp[k] (grp sorted), in pair order. Work on several threads: pieces cut at group
    boundaries, or, with fewer groups than threads, ranges of dates (each G cell is one
    piece's, summed in the same order: the same bits for any split)."""
    n = len(cols)
    D = zr.ar.shape[0]
    threads = (_threads() if n * D >= THREAD_MIN_CELLS else 1) if threads is None else threads
    G = np.zeros((n_grp, width))
    cuts = [0]
    if threads > 1:
        bounds = np.flatnonzero(np.diff(grp)) + 1
        for c in np.linspace(0, n, 4 * threads + 1)[1:-1].astype(np.int64):
            b = bounds[np.searchsorted(bounds, c):][:1]
            if len(b) and b[0] > cuts[-1]:
                cuts.append(int(b[0]))
    cuts.append(n)
    if len(cuts) - 1 >= threads:
        tasks = [(o0, o1, 0, width) for o0, o1 in zip(cuts[:-1], cuts[1:])]
    else:
        edges = np.linspace(0, width, threads + 1).astype(np.int64)
        tasks = [(0, n, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    _run(lambda c: _z_sums(zr.ar, zr.is_est, zr.date, zr.cal, zr.pos, zr.use_cal, zr.mean,
                           zr.scale, zr.key, cols, grp, v, c[0], c[1], d0, c[2], c[3], G),
         tasks, threads)
    return G


def date_sums_cols(zr: ZRows, rows, d0: int, width: int, threads: int | None = None
                   ) -> np.ndarray:
    """sum_i z_it per date t (d0 .. d0 + width - 1) over the pairs `rows` (ascending), in
    their order: ``np.bincount`` over those rows of z, bit for bit."""
    rows = np.asarray(rows, np.int64)
    return _pattern_sums(zr, rows, np.zeros(len(rows), np.int64), 1, np.ones(len(rows)), d0,
                         width, threads)[0]


def date_sums_total(zr: ZRows, rows, pat, n_pat: int, v, d0: int, width: int, patterns,
                    no_date, threads: int | None = None) -> float:
    """sum_{d,t} (sum_i v_i [pair i has event date d] z_it)^2 over the pairs `rows`: first per
    pattern of event dates (`pat`), each pattern's row summed in pair order, then per date."""
    order = np.argsort(pat, kind="stable")
    G = _pattern_sums(zr, np.asarray(rows, np.int64)[order], np.asarray(pat, np.int64)[order],
                      n_pat, np.asarray(v, np.float64)[order], d0, width, threads)
    has = patterns != no_date
    dates = np.unique(patterns[has])
    pr, pc = np.nonzero(has)
    dc = np.searchsorted(dates, patterns[pr, pc])
    ent = np.unique(dc.astype(np.int64) * max(n_pat, 1) + pr)      # by date, then pattern
    S = _date_rows(G, ent % max(n_pat, 1), ent // max(n_pat, 1), len(dates))
    return float(np.sum(S * S))

# --------------------------------------------------------------------------------------------
# the generalized sign test: each pair's share of positive estimation ARs
# --------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _positive_counts(ar, is_est, c0, c1, m, pos):
    for r in range(ar.shape[0]):
        for p in range(c0, c1):
            if is_est[r, p]:
                v = ar[r, p]
                if np.isfinite(v):
                    m[p] += 1
                    if v > 0:
                        pos[p] += 1


def positive_counts(g, threads: int | None = None):
    """Per pair: finite estimation ARs and positive ones (integer counts: any split of the
    pairs into chunks gives the same numbers)."""
    D, P = g.ar.shape
    m = np.zeros(P, np.int64)
    pos = np.zeros(P, np.int64)
    chunks = [(c, min(c + 8 * _PAIRS_PER_CHUNK, P)) for c in range(0, P, 8 * _PAIRS_PER_CHUNK)]
    threads = (_threads() if D * P >= THREAD_MIN_CELLS else 1) if threads is None else threads
    _run(lambda c: _positive_counts(g.ar, g.is_est, c[0], c[1], m, pos), chunks, threads)
    return m, pos
