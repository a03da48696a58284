# C types for the compiled build of fetch_pass.py (Cython pure-Python mode, as
# ingest/influx/minutes.pxd: this file only declares; the code is fetch_pass.py). The loops
# run once per record or reading: compiled, their counters and event times are C integers.
# Event times fit a C long long: every reading passed the decoder's clock window
# (ReadingDecoder.validate), so none is beyond a few days of now.
cimport cython


@cython.locals(values=list)
cpdef list record_values(list records)


@cython.locals(
    skipped=Py_ssize_t, newest="long long", n=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t,
    count=Py_ssize_t, ts="long long", scored=bint
)
cpdef tuple scan_partition(
    list records,
    list fast,
    dict applied,
    long long next_tick,
    object general,
    object boundary,
    list readings,
    list sources,
    list timestamps,
)

@cython.locals(lines=list, lanes=list, latest=dict, tags=dict, n=Py_ssize_t, i=Py_ssize_t)
cpdef tuple format_points(list scored, list sources, object pseudo, object reading_line)
