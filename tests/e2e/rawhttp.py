"""tests/e2e/rawhttp.py - HTTP/1.1 over a raw socket for the recedge
end-to-end scripts, where curl would hide what the test is about (the bytes
of a head, pieces sent apart, what comes back to the last byte).
edge_common.bash puts this folder on PYTHONPATH.

    raw = exchange(port, data)               # bytes, or a list of pieces
    status, fields, body = one(raw, 'what')  # raw is exactly one answer
    got, rest = answers(raw, 'what')         # answers one after another
"""
import socket
import time


class Reset(AssertionError):
    """The server reset the connection: never an answer (schemas/http.md)."""


def exchange(port, data, pause=0.0, addr='127.0.0.1', timeout=10):
    """Send data (bytes, or a list of pieces with pause seconds between
    them) and return what the server sends until it closes. Raises Reset
    when the connection is reset instead."""
    parts = [data] if isinstance(data, bytes) else data
    s = socket.create_connection((addr, port), timeout=timeout)
    out = b''
    try:
        for i, p in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(p)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError) as e:
        raise Reset('reset (%r) after %d bytes: %r sent, %r received' % (e, len(out), parts[0][:80], out[:300]))
    finally:
        s.close()
    return out


def _head(head, what, raw):
    """(status, fields with lower-case names) of one answer's head."""
    lines = head.split(b'\r\n')
    assert lines[0].startswith(b'HTTP/1.1 '), (what, raw[:300])
    fields = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b':')
        assert colon and name.strip() == name, (what, line)
        fields[name.decode().lower()] = value.strip().decode()
    return int(lines[0].split()[1]), fields


def one(raw, what):
    """The only answer in raw: (status, fields with lower-case names, body)."""
    head, sep, body = raw.partition(b'\r\n\r\n')
    assert sep, (what, raw[:300])
    status, fields = _head(head, what, raw)
    assert len(body) == int(fields['content-length']), (what, len(body), raw[:600])
    return status, fields, body


def answers(raw, what):
    """The whole answers at the start of raw, one after another, as one()
    gives them, and what follows the last whole one (b'' when raw is whole
    answers only; a cut answer, or what is not an answer, stays there)."""
    got = []
    while raw:
        head, sep, after = raw.partition(b'\r\n\r\n')
        if not sep or not head.startswith(b'HTTP/1.1 '):
            break
        status, fields = _head(head, what, raw)
        size = int(fields.get('content-length', -1))
        if size < 0 or len(after) < size:
            break
        got.append((status, fields, after[:size]))
        raw = after[size:]
    return got, raw
