# C types for the compiled build of minutes.py (Cython pure-Python mode, as
# detectors/reading_path.pxd: this file only declares; the code is minutes.py). The fold runs
# once per reading: compiled, its helpers are C calls and its minute arithmetic C integers.
cimport cython

cdef bint _says_something(object m)
cdef double _sd(double value, double baseline, double score) except? -1
cdef object _start(object s, str metric, long long minute_ms)
cdef object _fold(object m, object s, bint late)


cdef class MinuteAggregator:
    cdef public dict _open
    cdef public dict _closed

    @cython.locals(
        opened=dict, closed=list, per_device=dict, ts="long long", minute_ms="long long"
    )
    cpdef list add(self, object scored)

    @cython.locals(floor="long long", per_device=dict, window=list)
    cdef object _next(self, str device, object m, object s, str metric, long long minute_ms)

    @cython.locals(window=list, i=Py_ssize_t)
    cdef object _late(
        self, str device, object m, object s, str metric, long long minute_ms, list closed
    )
