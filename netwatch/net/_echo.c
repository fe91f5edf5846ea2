/* The ICMP engine's two per-echo loops in C: sending a round of echoes and draining the replies.
 *
 * Why C: per echo the Python loops cost ~8 us of interpreter time (tuple unpacking, sockaddr parsing in
 * sendto, a bytes + list + tuples per recvmsg, the slot bookkeeping) against ~2 us of the kernel's own
 * work for the same echo; fping does the same loops in C. Everything else stays in Python and the state
 * stays in the Pinger's own lists (netwatch/net/icmp.py), so the Python engine and this one are
 * interchangeable and tests/probes/test_echo_engine.py runs the same cases on both.
 *
 * Both functions run with the GIL held (non-blocking sockets: every call returns at once).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SEQUENCE_SPACE 65536
#define ADDRESS_BYTES 16
#define RECEIVE_BYTES 192
#define CLOCK_SLACK_NS 1000000LL

static inline long long clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Replace list[index] (index checked by the caller) with a new reference. */
static inline void list_put(PyObject *list, Py_ssize_t index, PyObject *value) {
    PyObject *old = PyList_GET_ITEM(list, index);
    PyList_SET_ITEM(list, index, value);
    Py_XDECREF(old);
}

/* Interned names of the _Batch attributes and methods the drain uses. */
static PyObject *got_name, *left_name, *rtt_flat_name, *count_name, *outstanding_name, *finish_name, *settle_name;
static PyObject *settled_name, *errors_name, *addresses_name, *deliver_name;
/* netwatch.net.icmp.PingStats (a NamedTuple), given by stats_type() when icmp.py is imported. */
static PyTypeObject *stats_type_object;
static PyObject *no_errors;

/* _Batch.finish(index) for an address whose every echo was answered (the common case), step for step: settled,
 * its RTTs handed over as PingStats(address, count, rtts, ()) through batch.deliver(index, stats). Returns 1 when
 * done, 0 when Python's finish must run (errors recorded for the address, or no PingStats type given), -1 with an
 * exception set. */
static int batch_finish_full(PyObject *batch, PyObject *index_obj, Py_ssize_t index, Py_ssize_t count) {
    if (stats_type_object == NULL)
        return 0;
    int status = -1;
    PyObject *settled = PyObject_GetAttr(batch, settled_name);
    PyObject *errors = PyObject_GetAttr(batch, errors_name);
    PyObject *addresses = PyObject_GetAttr(batch, addresses_name);
    PyObject *rtt_flat = PyObject_GetAttr(batch, rtt_flat_name);
    PyObject *rtts = NULL, *stats = NULL;
    if (settled == NULL || errors == NULL || addresses == NULL || rtt_flat == NULL)
        goto out;
    if (!PyDict_CheckExact(errors)) {
        status = 0;
        goto out;
    }
    if (PyDict_GET_SIZE(errors) != 0) {   /* errors of this address (none when all its echoes came back) */
        PyObject *found = PyDict_GetItemWithError(errors, index_obj);
        if (found != NULL || PyErr_Occurred()) {
            status = PyErr_Occurred() ? -1 : 0;
            goto out;
        }
    }
    if (!PyList_CheckExact(settled) || !PyList_CheckExact(addresses) || !PyList_CheckExact(rtt_flat) ||
        index >= PyList_GET_SIZE(settled) || index >= PyList_GET_SIZE(addresses) ||
        (index + 1) * count > PyList_GET_SIZE(rtt_flat)) {
        PyErr_SetString(PyExc_TypeError, "batch lists do not match its index");
        goto out;
    }
    if (PyList_GET_ITEM(settled, index) == Py_True) {
        status = 1;   /* already handed over (finish() returns at once) */
        goto out;
    }
    rtts = PyTuple_New(count);
    stats = stats_type_object->tp_alloc(stats_type_object, 4);
    if (rtts == NULL || stats == NULL)
        goto out;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *rtt = PyList_GET_ITEM(rtt_flat, index * count + k);
        Py_INCREF(rtt);
        PyTuple_SET_ITEM(rtts, k, rtt);
    }
    PyObject *address = PyList_GET_ITEM(addresses, index);
    PyObject *count_obj = PyLong_FromSsize_t(count);
    if (count_obj == NULL)
        goto out;
    Py_INCREF(address);
    PyTuple_SET_ITEM(stats, 0, address);
    PyTuple_SET_ITEM(stats, 1, count_obj);
    PyTuple_SET_ITEM(stats, 2, rtts);
    rtts = NULL;
    Py_INCREF(no_errors);
    PyTuple_SET_ITEM(stats, 3, no_errors);
    Py_INCREF(Py_True);
    list_put(settled, index, Py_True);
    PyObject *answer = PyObject_CallMethodObjArgs(batch, deliver_name, index_obj, stats, NULL);
    if (answer == NULL)
        goto out;
    Py_DECREF(answer);
    status = 1;
out:
    Py_XDECREF(settled);
    Py_XDECREF(errors);
    Py_XDECREF(addresses);
    Py_XDECREF(rtt_flat);
    Py_XDECREF(rtts);
    Py_XDECREF(stats);
    return status;
}

static long get_long(PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL)
        return -1;
    long result = PyLong_AsLong(value);
    Py_DECREF(value);
    return result;
}

static int set_long(PyObject *obj, PyObject *name, long number) {
    PyObject *value = PyLong_FromLong(number);
    if (value == NULL)
        return -1;
    int failed = PyObject_SetAttr(obj, name, value);
    Py_DECREF(value);
    return failed;
}

/* _Batch.reply(index, rtt_ns) of netwatch/net/icmp.py, step for step: the echo's RTT in its address's
 * slot, one echo fewer outstanding and left, finish() when the address has none left, settle() when the
 * batch has none outstanding. Returns -1 with an exception set. */
static int batch_reply(PyObject *batch, PyObject *index_obj, long long rtt_ns) {
    int status = -1;
    PyObject *got = PyObject_GetAttr(batch, got_name);
    PyObject *left = PyObject_GetAttr(batch, left_name);
    PyObject *rtt_flat = PyObject_GetAttr(batch, rtt_flat_name);
    Py_ssize_t index = PyLong_AsSsize_t(index_obj);
    long count = get_long(batch, count_name);
    if (got == NULL || left == NULL || rtt_flat == NULL || PyErr_Occurred())
        goto out;
    if (!PyList_CheckExact(got) || !PyList_CheckExact(left) || !PyList_CheckExact(rtt_flat) || index < 0 ||
        index >= PyList_GET_SIZE(got) || index >= PyList_GET_SIZE(left)) {
        PyErr_SetString(PyExc_TypeError, "batch lists do not match its index");
        goto out;
    }
    Py_ssize_t got_now = PyLong_AsSsize_t(PyList_GET_ITEM(got, index));
    long left_now = PyLong_AsLong(PyList_GET_ITEM(left, index));
    if (PyErr_Occurred())
        goto out;
    Py_ssize_t slot = index * count + got_now;
    if (got_now < 0 || got_now >= count || slot >= PyList_GET_SIZE(rtt_flat)) {
        PyErr_SetString(PyExc_ValueError, "more replies than echoes for one address");
        goto out;
    }
    PyObject *seconds = PyFloat_FromDouble((double)rtt_ns / 1e9);
    PyObject *got_next = PyLong_FromSsize_t(got_now + 1);
    PyObject *left_next = PyLong_FromLong(left_now - 1);
    if (seconds == NULL || got_next == NULL || left_next == NULL) {
        Py_XDECREF(seconds);
        Py_XDECREF(got_next);
        Py_XDECREF(left_next);
        goto out;
    }
    list_put(rtt_flat, slot, seconds);
    list_put(got, index, got_next);
    list_put(left, index, left_next);
    long outstanding = get_long(batch, outstanding_name);
    if (PyErr_Occurred() || set_long(batch, outstanding_name, outstanding - 1))
        goto out;
    if (left_now - 1 == 0) {
        /* every echo answered: handed over here; anything else (an echo failed or lost) by Python's finish() */
        int handled = got_now + 1 == count ? batch_finish_full(batch, index_obj, index, count) : 0;
        if (handled < 0)
            goto out;
        if (!handled) {
            PyObject *answer = PyObject_CallMethodOneArg(batch, finish_name, index_obj);
            if (answer == NULL)
                goto out;
            Py_DECREF(answer);
        }
    }
    outstanding = get_long(batch, outstanding_name);   /* finish() gives up the address's echoes in flight */
    if (PyErr_Occurred())
        goto out;
    if (outstanding == 0) {
        PyObject *answer = PyObject_CallMethodNoArgs(batch, settle_name);
        if (answer == NULL)
            goto out;
        Py_DECREF(answer);
    }
    status = 0;
out:
    Py_XDECREF(got);
    Py_XDECREF(left);
    Py_XDECREF(rtt_flat);
    return status;
}

static int check_list(PyObject *obj, Py_ssize_t at_least, const char *name) {
    if (!PyList_CheckExact(obj) || PyList_GET_SIZE(obj) < at_least) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of at least %zd items", name, at_least);
        return -1;
    }
    return 0;
}

static int check_table(PyObject *table) {
    if (!PyByteArray_CheckExact(table) || PyByteArray_GET_SIZE(table) != SEQUENCE_SPACE * ADDRESS_BYTES) {
        PyErr_SetString(PyExc_TypeError, "address table must be a bytearray of 65536 x 16 bytes");
        return -1;
    }
    return 0;
}

/* send_round(entries, start, settled, gone, ident, next_seq, payload_sum, slot_batch, slot_index,
 *            slot_address, slot_sent_ns, slot_sent_perf_ns, address_table, seq_flat, count, round_index,
 *            batch, max_sends, room) -> (position, next_seq, sent, error)
 *
 * Sends one echo to each entry from `start` on that is not settled (and not gone), as the Python loop
 * in Pinger._run_group does, and records each in the slot tables. Returns where it stopped:
 * error 0 = the end, or `max_sends` sent (the caller drains, then goes on from `position`);
 * error -1 = `room` echoes are in flight already (the caller waits for replies);
 * otherwise the errno of entry `position`'s send (EAGAIN: wait until writable and retry it; any other:
 * that echo failed, go on from position + 1).
 * An entry: (fd, packet bytearray, sockaddr bytes, checksummed, request type, address text, address16).
 */
static PyObject *send_round(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 19) {
        PyErr_SetString(PyExc_TypeError, "send_round takes 19 arguments");
        return NULL;
    }
    PyObject *entries = args[0], *settled = args[2], *gone = args[3];
    PyObject *slot_batch = args[7], *slot_index = args[8], *slot_address = args[9];
    PyObject *slot_sent_ns = args[10], *slot_sent_perf_ns = args[11], *table = args[12];
    PyObject *seq_flat = args[13], *batch = args[16];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    long ident = PyLong_AsLong(args[4]);
    long seq = PyLong_AsLong(args[5]);
    long payload_sum = PyLong_AsLong(args[6]);
    Py_ssize_t count = PyLong_AsSsize_t(args[14]);
    Py_ssize_t round_index = PyLong_AsSsize_t(args[15]);
    Py_ssize_t max_sends = PyLong_AsSsize_t(args[17]);
    Py_ssize_t room = PyLong_AsSsize_t(args[18]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(entries)) {
        PyErr_SetString(PyExc_TypeError, "entries must be a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(entries);
    if (check_list(settled, n, "settled") || check_list(slot_batch, SEQUENCE_SPACE, "slot_batch") ||
        check_list(slot_index, SEQUENCE_SPACE, "slot_index") ||
        check_list(slot_address, SEQUENCE_SPACE, "slot_address") ||
        check_list(slot_sent_ns, SEQUENCE_SPACE, "slot_sent_ns") ||
        check_list(slot_sent_perf_ns, SEQUENCE_SPACE, "slot_sent_perf_ns") || check_table(table) ||
        check_list(seq_flat, n * count, "seq_flat"))
        return NULL;
    if (seq < 0 || seq >= SEQUENCE_SPACE || round_index < 0 || round_index >= count || start < 0) {
        PyErr_SetString(PyExc_ValueError, "sequence, round or start out of range");
        return NULL;
    }
    unsigned char *addresses = (unsigned char *)PyByteArray_AS_STRING(table);
    Py_ssize_t sent = 0, i = start;
    int error = 0;
    for (; i < n; i++) {
        if (sent >= max_sends)
            break;
        if (sent >= room) {
            error = -1;
            break;
        }
        if (PyList_GET_ITEM(settled, i) == Py_True)
            continue;
        if (gone != Py_None) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL)
                return NULL;
            PyObject *answer = PyObject_CallOneArg(gone, index);
            Py_DECREF(index);
            if (answer == NULL)
                return NULL;
            int truth = PyObject_IsTrue(answer);
            Py_DECREF(answer);
            if (truth < 0)
                return NULL;
            if (truth)
                continue;
        }
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 7) {
            PyErr_SetString(PyExc_TypeError, "an entry must be a 7-tuple");
            return NULL;
        }
        int fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
        PyObject *packet = PyTuple_GET_ITEM(entry, 1), *sockaddr = PyTuple_GET_ITEM(entry, 2);
        int checksummed = PyObject_IsTrue(PyTuple_GET_ITEM(entry, 3));
        long request_type = PyLong_AsLong(PyTuple_GET_ITEM(entry, 4));
        PyObject *text = PyTuple_GET_ITEM(entry, 5), *address16 = PyTuple_GET_ITEM(entry, 6);
        if (PyErr_Occurred())
            return NULL;
        if (!PyByteArray_CheckExact(packet) || PyByteArray_GET_SIZE(packet) < 8 || !PyBytes_CheckExact(sockaddr) ||
            (PyBytes_GET_SIZE(sockaddr) != sizeof(struct sockaddr_in) &&
             PyBytes_GET_SIZE(sockaddr) != sizeof(struct sockaddr_in6)) ||
            !PyBytes_CheckExact(address16) || PyBytes_GET_SIZE(address16) != ADDRESS_BYTES) {
            PyErr_SetString(PyExc_TypeError, "bad entry: packet, sockaddr or address16");
            return NULL;
        }
        /* The next free sequence number: one counter for every batch, no two echoes in flight share one. */
        while (PyList_GET_ITEM(slot_batch, seq) != Py_None)
            seq = (seq + 1) & 0xFFFF;
        unsigned long checksum = 0;
        if (checksummed) { /* the kernel sums ICMPv6 and ping sockets */
            unsigned long total = ((unsigned long)request_type << 8) + (unsigned long)ident + (unsigned long)seq +
                                  (unsigned long)payload_sum;
            total = (total & 0xFFFF) + (total >> 16);
            total = (total & 0xFFFF) + (total >> 16);
            checksum = ~total & 0xFFFF;
        }
        unsigned char *p = (unsigned char *)PyByteArray_AS_STRING(packet);
        p[0] = (unsigned char)request_type;
        p[1] = 0;
        p[2] = (unsigned char)(checksum >> 8);
        p[3] = (unsigned char)checksum;
        p[4] = (unsigned char)(ident >> 8);
        p[5] = (unsigned char)ident;
        p[6] = (unsigned char)(seq >> 8);
        p[7] = (unsigned char)seq;
        /* Taken before sendto: on loopback the reply is queued inside the call. */
        long long sent_ns = clock_ns(CLOCK_REALTIME);
        long long sent_perf_ns = clock_ns(CLOCK_MONOTONIC);
        ssize_t done = sendto(fd, p, (size_t)PyByteArray_GET_SIZE(packet), 0,
                              (const struct sockaddr *)PyBytes_AS_STRING(sockaddr),
                              (socklen_t)PyBytes_GET_SIZE(sockaddr));
        if (done < 0) {
            error = errno == EWOULDBLOCK ? EAGAIN : errno;
            break;
        }
        PyObject *sent_obj = PyLong_FromLongLong(sent_ns);
        PyObject *perf_obj = PyLong_FromLongLong(sent_perf_ns);
        PyObject *index_obj = PyLong_FromSsize_t(i);
        PyObject *seq_obj = PyLong_FromLong(seq);
        if (!sent_obj || !perf_obj || !index_obj || !seq_obj) {
            Py_XDECREF(sent_obj);
            Py_XDECREF(perf_obj);
            Py_XDECREF(index_obj);
            Py_XDECREF(seq_obj);
            return NULL;
        }
        Py_INCREF(batch);
        list_put(slot_batch, seq, batch);
        list_put(slot_index, seq, index_obj);
        Py_INCREF(text);
        list_put(slot_address, seq, text);
        list_put(slot_sent_ns, seq, sent_obj);
        list_put(slot_sent_perf_ns, seq, perf_obj);
        list_put(seq_flat, i * count + round_index, seq_obj);
        memcpy(addresses + (size_t)seq * ADDRESS_BYTES, PyBytes_AS_STRING(address16), ADDRESS_BYTES);
        seq = (seq + 1) & 0xFFFF;
        sent++;
    }
    return Py_BuildValue("(nlni)", i, seq, sent, error);
}

/* drain(fd, header_offset, ident, reply_type, slot_batch, slot_index, slot_sent_ns, slot_sent_perf_ns,
 *       address_table, on_error, counts, max_packets) -> datagrams read
 *
 * Reads queued datagrams as Pinger._drain does: an echo reply with our identifier, a sequence in flight
 * and the address it was sent to settles that echo (as `slot_batch[seq].reply(index, rtt_ns)` would: see
 * batch_reply; the kernel's receive timestamp preferred); any other ICMP type goes to `on_error(data, offset, source)`. `counts`
 * ([matched, foreign, stray], added to in place, also when a callback raises) lets the caller keep its
 * in-flight count and counters. `ident` < 0: a ping socket (the kernel already filters by identifier).
 */
static PyObject *drain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "drain takes 12 arguments");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    int header_offset = PyObject_IsTrue(args[1]);
    long ident = PyLong_AsLong(args[2]);
    long reply_type = PyLong_AsLong(args[3]);
    PyObject *slot_batch = args[4], *slot_index = args[5], *slot_sent_ns = args[6], *slot_sent_perf_ns = args[7];
    PyObject *table = args[8], *on_error = args[9], *counts = args[10];
    Py_ssize_t max_packets = PyLong_AsSsize_t(args[11]);
    if (PyErr_Occurred())
        return NULL;
    if (check_list(slot_batch, SEQUENCE_SPACE, "slot_batch") || check_list(slot_index, SEQUENCE_SPACE, "slot_index") ||
        check_list(slot_sent_ns, SEQUENCE_SPACE, "slot_sent_ns") ||
        check_list(slot_sent_perf_ns, SEQUENCE_SPACE, "slot_sent_perf_ns") || check_table(table) ||
        check_list(counts, 3, "counts"))
        return NULL;
    unsigned char *addresses = (unsigned char *)PyByteArray_AS_STRING(table);
    long long matched = 0, foreign = 0, stray = 0;
    Py_ssize_t read = 0;
    PyObject *result = NULL;
    unsigned char data[RECEIVE_BYTES];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct timespec)) + 64];
    } control;
    struct sockaddr_storage source;
    for (; read < max_packets; read++) {
        struct iovec iov = {data, sizeof data};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_name = &source;
        msg.msg_namelen = sizeof source;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.bytes;
        msg.msg_controllen = sizeof control.bytes;
        ssize_t got = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (got < 0)
            break; /* EAGAIN: nothing more queued; any other error: as the Python loop, stop here */
        long long received_ns = clock_ns(CLOCK_MONOTONIC);
        size_t length = (size_t)got;
        size_t offset = header_offset && length ? (size_t)(data[0] & 0x0F) << 2 : 0;
        if (length < offset + 8)
            continue;
        const unsigned char *source_address;
        if (source.ss_family == AF_INET)
            source_address = (const unsigned char *)&((struct sockaddr_in *)&source)->sin_addr;
        else if (source.ss_family == AF_INET6)
            source_address = (const unsigned char *)&((struct sockaddr_in6 *)&source)->sin6_addr;
        else
            continue;
        if (data[offset] != reply_type) {
            char host[NI_MAXHOST];
            if (getnameinfo((struct sockaddr *)&source, msg.msg_namelen, host, sizeof host, NULL, 0, NI_NUMERICHOST))
                continue;
            PyObject *answer = PyObject_CallFunction(on_error, "y#ns", (const char *)data, (Py_ssize_t)length,
                                                     (Py_ssize_t)offset, host);
            if (answer == NULL)
                goto done;
            Py_DECREF(answer);
            continue;
        }
        long reply_id = (data[offset + 4] << 8) | data[offset + 5];
        long seq = (data[offset + 6] << 8) | data[offset + 7];
        if (ident >= 0 && reply_id != ident) {
            foreign++; /* another program's echo: raw sockets see them all */
            continue;
        }
        PyObject *batch = PyList_GET_ITEM(slot_batch, seq);
        size_t address_bytes = source.ss_family == AF_INET ? 4 : 16;
        if (batch == Py_None || memcmp(addresses + (size_t)seq * ADDRESS_BYTES, source_address, address_bytes) != 0) {
            stray++;
            continue;
        }
        Py_INCREF(batch); /* the slot's reference goes; ours lives until reply returns */
        Py_INCREF(Py_None);
        list_put(slot_batch, seq, Py_None);
        matched++;
        long long sent_perf_ns = PyLong_AsLongLong(PyList_GET_ITEM(slot_sent_perf_ns, seq));
        long long sent_ns = PyLong_AsLongLong(PyList_GET_ITEM(slot_sent_ns, seq));
        if (PyErr_Occurred()) {
            Py_DECREF(batch);
            goto done;
        }
        long long rtt_ns = received_ns - sent_perf_ns;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                long long kernel_rtt_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec - sent_ns;
                if (kernel_rtt_ns >= 0 && kernel_rtt_ns <= rtt_ns + CLOCK_SLACK_NS)
                    rtt_ns = kernel_rtt_ns;
                break;
            }
        }
        PyObject *index = PyList_GET_ITEM(slot_index, seq);
        Py_INCREF(index);
        int failed = batch_reply(batch, index, rtt_ns);
        Py_DECREF(index);
        Py_DECREF(batch);
        if (failed)
            goto done;
    }
    result = PyLong_FromSsize_t(read);
done:;
    /* Counted even when a callback raised, so the caller's in-flight count stays true. */
    long long totals[3] = {matched, foreign, stray};
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    for (int k = 0; k < 3; k++) {
        if (!totals[k])
            continue;
        PyObject *now = PyLong_FromLongLong(PyLong_AsLongLong(PyList_GET_ITEM(counts, k)) + totals[k]);
        if (now != NULL)
            list_put(counts, k, now);
        PyErr_Clear();
    }
    PyErr_Restore(type, value, traceback);
    return result;
}

/* stats_type(PingStats): the NamedTuple the drain hands a fully answered address's RTTs in. */
static PyObject *stats_type(PyObject *self, PyObject *type) {
    if (!PyType_Check(type) || !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "stats_type takes a tuple subclass");
        return NULL;
    }
    Py_INCREF(type);
    Py_XSETREF(stats_type_object, (PyTypeObject *)type);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"stats_type", (PyCFunction)stats_type, METH_O, "Set the PingStats type the drain hands RTTs in."},
    {"send_round", (PyCFunction)(void (*)(void))send_round, METH_FASTCALL, "Send one round of a batch's echoes."},
    {"drain", (PyCFunction)(void (*)(void))drain, METH_FASTCALL, "Read and settle queued echo replies."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_echo", "The ICMP engine's per-echo loops in C.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__echo(void) {
    const char *names[] = {"got", "left", "rtt_flat", "count", "outstanding", "finish", "settle", "settled", "errors",
                           "addresses", "deliver"};
    PyObject **slots[] = {&got_name, &left_name, &rtt_flat_name, &count_name, &outstanding_name, &finish_name,
                          &settle_name, &settled_name, &errors_name, &addresses_name, &deliver_name};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        *slots[k] = PyUnicode_InternFromString(names[k]);
        if (*slots[k] == NULL)
            return NULL;
    }
    no_errors = PyTuple_New(0);
    if (no_errors == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "SEQUENCE_SPACE", SEQUENCE_SPACE) || PyModule_AddIntConstant(m, "ADDRESS_BYTES", ADDRESS_BYTES)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
