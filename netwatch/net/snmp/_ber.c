/* The column walk of a v2c GETBULK answer in C: ber._columns's per-binding loop (netwatch/net/snmp/ber.py).
 *
 * Why C: the Python loop costs ~1 us of interpreter time per binding (slicing, index-cache lookups, the
 * value branches); a 50-row, 15-column poll has 750 bindings, 39 % of a poll's CPU.
 *
 * Why it never raises a BerError itself: the error semantics (which class, which message) belong to the
 * Python decoder. This loop decodes a well-formed answer and, at the first thing it does not accept
 * (malformed, truncated, out of order, an unusual encoding), puts `last` back as it found it and returns
 * None; ber.py then decodes the whole answer again in Python, which raises exactly what it always raised.
 * That is sound because each binding is accepted here only if the Python loop accepts it too, with the
 * same value: the cells written before giving up are the ones Python writes again, in the same order.
 *
 * Runs with the GIL held; pure (no I/O).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

enum {
    INTEGER = 0x02, OCTET_STRING = 0x04, NULL_TAG = 0x05, OBJECT_ID = 0x06, IP_ADDRESS = 0x40,
    COUNTER32 = 0x41, GAUGE32 = 0x42, TIMETICKS = 0x43, OPAQUE = 0x44, COUNTER64 = 0x46,
    NO_SUCH_OBJECT = 0x80, NO_SUCH_INSTANCE = 0x81, END_OF_MIB_VIEW = 0x82,
};

/* a column that ended gets an impossible prefix length, as in ber.py */
#define ENDED ((Py_ssize_t)1 << 30)
/* wider walks (never seen: the client asks a few dozen columns at most) stay in Python */
#define MAX_WIDTH 256

/* A length at d[*pos] (the byte after a tag) read as ber._length reads it; -1 where Python would raise. */
static inline Py_ssize_t read_length(const unsigned char *d, Py_ssize_t end, Py_ssize_t *pos) {
    Py_ssize_t p = *pos;
    if (p >= end)
        return -1;
    unsigned n = d[p];
    if (n < 0x80) {
        *pos = p + 1;
        return n;
    }
    Py_ssize_t count = n & 0x7F;
    if (count == 0 || count > 3 || p + 1 + count > end)
        return -1;
    Py_ssize_t value = 0;
    for (Py_ssize_t c = 0; c < count; c++)
        value = (value << 8) | d[p + 1 + c];
    *pos = p + 1 + count;
    return value;
}

/* A binding's value as ber._columns / ber.decode_value give it; NULL where Python would raise. */
static PyObject *read_value(int tag, const unsigned char *v, Py_ssize_t n, PyObject *decode_oid) {
    switch (tag) {
    case COUNTER32:
    case GAUGE32:
    case TIMETICKS:
    case COUNTER64: {
        /* at most 4 (8) bytes of value, plus a leading 0 byte when the top bit is set; never negative */
        Py_ssize_t most = tag == COUNTER64 ? 9 : 5;
        if (n == 0 || n > most || (v[0] & 0x80) || (n == most && v[0] != 0))
            return NULL;
        unsigned long long x = 0;
        for (Py_ssize_t k = 0; k < n; k++)
            x = (x << 8) | v[k];
        return PyLong_FromUnsignedLongLong(x);
    }
    case INTEGER: {
        if (n == 0 || n > 9)
            return NULL;
        if (n == 9)
            return _PyLong_FromByteArray(v, 9, 0, 1);
        uint64_t x = (v[0] & 0x80) ? UINT64_MAX : 0;
        for (Py_ssize_t k = 0; k < n; k++)
            x = (x << 8) | v[k];
        return PyLong_FromLongLong((long long)x);
    }
    case OCTET_STRING:
    case OPAQUE:
        return PyBytes_FromStringAndSize((const char *)v, n);
    case IP_ADDRESS:
        return n == 4 ? PyBytes_FromStringAndSize((const char *)v, n) : NULL;
    case NULL_TAG:
    case NO_SUCH_OBJECT:
    case NO_SUCH_INSTANCE:
    case END_OF_MIB_VIEW:
        if (n)
            return NULL;
        Py_RETURN_NONE;
    case OBJECT_ID: {
        /* ber.decode_oid: its checks and its cache, so the value is the Oid Python would give */
        PyObject *raw = PyBytes_FromStringAndSize((const char *)v, n);
        if (raw == NULL)
            return NULL;
        PyObject *oid = PyObject_CallOneArg(decode_oid, raw);
        Py_DECREF(raw);
        return oid;
    }
    default:
        return NULL;
    }
}

/* The sub-identifiers after a column prefix as ber._index gives them (strict base-128, each below 2**32,
 * at most `room` of them); NULL where Python would raise. */
static PyObject *read_index(const unsigned char *r, Py_ssize_t n, Py_ssize_t room) {
    if (n == 0 || (r[n - 1] & 0x80))
        return NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t k = 0; k < n; k++)
        count += !(r[k] & 0x80);
    if (count > room)
        return NULL;
    PyObject *idx = PyTuple_New(count);
    if (idx == NULL)
        return NULL;
    uint64_t acc = 0;
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        acc = (acc << 7) | (r[k] & 0x7F);
        if (acc >= ((uint64_t)1 << 32) || ((r[k] & 0x80) && acc == 0))
            goto fail;   /* too large (it only grows), or a leading 0x80 byte */
        if (!(r[k] & 0x80)) {
            PyObject *arc = PyLong_FromUnsignedLong((unsigned long)acc);
            if (arc == NULL)
                goto fail;
            PyTuple_SET_ITEM(idx, at++, arc);
            acc = 0;
        }
    }
    return idx;
fail:
    Py_DECREF(idx);
    return NULL;
}

/* columns(data, start, prefixes, last, cells, decode_oid) -> (ended, count), or None: "decode it in Python".
 * `start` is the offset of the first binding after the non-repeaters; the bindings run to the end of data
 * (the caller checked that the varbind list ends there). */
static PyObject *columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "columns() takes 6 arguments");
        return NULL;
    }
    PyObject *data = args[0], *prefixes = args[2], *last = args[3], *cells = args[4], *decode_oid = args[5];
    if (!PyBytes_CheckExact(data) || !PyLong_CheckExact(args[1]) || !PyList_CheckExact(prefixes) ||
        !PyList_CheckExact(last) || !PyList_CheckExact(cells))
        Py_RETURN_NONE;
    Py_ssize_t width = PyList_GET_SIZE(prefixes);
    if (width == 0 || width > MAX_WIDTH || PyList_GET_SIZE(last) < width || PyList_GET_SIZE(cells) < width)
        Py_RETURN_NONE;
    const unsigned char *prefix[MAX_WIDTH];
    Py_ssize_t lengths[MAX_WIDTH], rooms[MAX_WIDTH];
    char ended[MAX_WIDTH];
    for (Py_ssize_t c = 0; c < width; c++) {
        PyObject *p = PyList_GET_ITEM(prefixes, c);
        if (!PyBytes_CheckExact(p) || !PyDict_CheckExact(PyList_GET_ITEM(cells, c)))
            Py_RETURN_NONE;
        prefix[c] = (const unsigned char *)PyBytes_AS_STRING(p);
        lengths[c] = PyBytes_GET_SIZE(p);
        /* an OID has at most 128 sub-identifiers: one per final byte of the prefix, plus one (the first
         * byte carries two) */
        Py_ssize_t finals = 0;
        for (Py_ssize_t k = 0; k < lengths[c]; k++)
            finals += prefix[c][k] < 0x80;
        rooms[c] = 127 - finals;
        ended[c] = 0;
    }
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t end = PyBytes_GET_SIZE(data);
    if (i < 0 || i > end) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *saved = PyList_GetSlice(last, 0, PyList_GET_SIZE(last));
    if (saved == NULL)
        return NULL;
    /* the index of the previous binding: a GETBULK answer is row by row, so the next columns share it */
    PyObject *prev_idx = NULL;
    const unsigned char *prev_raw = NULL;
    Py_ssize_t prev_n = -1;
    PyObject *value = NULL;
    Py_ssize_t col = 0, count = 0;
    while (i < end) {
        if (d[i] != 0x30)
            goto defer;
        Py_ssize_t p = i + 1;
        Py_ssize_t n = read_length(d, end, &p);
        if (n < 0)
            goto defer;
        Py_ssize_t vb_end = p + n;
        i = p;
        if (vb_end > end || i >= end || d[i] != OBJECT_ID)
            goto defer;
        p = i + 1;
        n = read_length(d, end, &p);
        if (n < 0)
            goto defer;
        Py_ssize_t j = p, k = p + n;
        if (k >= end)
            goto defer;
        int tag = d[k];
        p = k + 1;
        n = read_length(d, end, &p);
        if (n < 0 || p + n != vb_end)
            goto defer;
        value = read_value(tag, d + p, n, decode_oid);
        if (value == NULL)
            goto defer;
        if (tag == END_OF_MIB_VIEW)
            lengths[col] = ENDED;
        i = vb_end;
        Py_ssize_t oid_n = k - j;
        if (oid_n > lengths[col] && memcmp(d + j, prefix[col], lengths[col]) == 0) {
            const unsigned char *raw = d + j + lengths[col];
            Py_ssize_t raw_n = oid_n - lengths[col];
            PyObject *idx;
            if (prev_idx != NULL && raw_n == prev_n && memcmp(raw, prev_raw, raw_n) == 0) {
                if (PyTuple_GET_SIZE(prev_idx) > rooms[col])
                    goto defer;
                idx = prev_idx;
                Py_INCREF(idx);
            } else {
                idx = read_index(raw, raw_n, rooms[col]);
                if (idx == NULL)
                    goto defer;
                Py_XDECREF(prev_idx);
                prev_idx = idx;
                Py_INCREF(idx);
                prev_raw = raw;
                prev_n = raw_n;
            }
            int behind = PyObject_RichCompareBool(idx, PyList_GET_ITEM(last, col), Py_LE);
            if (behind != 0) {   /* out of order (or the comparison failed) */
                Py_DECREF(idx);
                goto defer;
            }
            PyObject *cell = PyTuple_New(2);
            if (cell == NULL) {
                Py_DECREF(idx);
                goto defer;
            }
            PyTuple_SET_ITEM(cell, 0, PyLong_FromLong(tag));   /* a small int: cannot fail */
            PyTuple_SET_ITEM(cell, 1, value);
            value = NULL;
            int failed = PyDict_SetItem(PyList_GET_ITEM(cells, col), idx, cell);
            Py_DECREF(cell);
            /* last[col] = idx (the list takes the reference) */
            PyObject *old = PyList_GET_ITEM(last, col);
            PyList_SET_ITEM(last, col, idx);
            Py_DECREF(old);
            if (failed)
                goto defer;
        } else {
            Py_CLEAR(value);
            if (!ended[col] && oid_n == lengths[col] && memcmp(d + j, prefix[col], oid_n) == 0)
                goto defer;   /* a column answered with itself */
            /* ber.decode_oid: as strict as decode_message about bindings past the column */
            PyObject *raw = PyBytes_FromStringAndSize((const char *)d + j, oid_n);
            if (raw == NULL)
                goto defer;
            PyObject *oid = PyObject_CallOneArg(decode_oid, raw);
            Py_DECREF(raw);
            if (oid == NULL)
                goto defer;
            Py_DECREF(oid);
            ended[col] = 1;
            lengths[col] = ENDED;
        }
        count++;
        if (++col == width)
            col = 0;
    }
    Py_XDECREF(prev_idx);
    Py_DECREF(saved);
    PyObject *flags = PyList_New(width);
    if (flags == NULL)
        return NULL;
    for (Py_ssize_t c = 0; c < width; c++) {
        PyObject *flag = ended[c] ? Py_True : Py_False;
        Py_INCREF(flag);
        PyList_SET_ITEM(flags, c, flag);
    }
    return Py_BuildValue("(Nn)", flags, count);

defer:
    /* Python decodes the answer again from the start and raises (or not) as it always did */
    PyErr_Clear();
    Py_XDECREF(value);
    Py_XDECREF(prev_idx);
    int failed = PyList_SetSlice(last, 0, PyList_GET_SIZE(last), saved);
    Py_DECREF(saved);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"columns", (PyCFunction)(void (*)(void))columns, METH_FASTCALL,
     "Decode a GETBULK answer's column bindings into cells; None when Python must decode it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ber", "The SNMP column walk's BER loop in C.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ber(void) { return PyModule_Create(&module); }
