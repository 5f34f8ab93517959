#!/usr/bin/env python3
"""ops/bench/edge_conns.py - hold N connections open on recedge and report
its memory (ops/bench/edge.sh, step 6).

    edge_conns.py PORT PID N idle   N connections, each after one complete
                                    request and its answer (kept alive)
    edge_conns.py PORT PID N half   N connections, each holding a request
                                    whose headers are half sent

The request is a browser's cross-origin call (about 700 bytes of headers).
Prints RssAnon (kB) of PID before, with the N connections held (after the
numbers settle), and the cost per connection. Needs `ulimit -n` above N.
"""
import socket
import sys
import time

REQUEST = (b'GET /v1/recs?cookie=c1&products=p1,p2&n=10 HTTP/1.1\r\nHost: recs.shop.example\r\n'
           b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
           b'Chrome/131.0.0.0 Safari/537.36\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.9\r\n'
           b'Accept-Encoding: gzip, deflate, br, zstd\r\nOrigin: https://www.shop.example\r\n'
           b'Referer: https://www.shop.example/category/shoes/p1?utm_source=newsletter&utm_medium=email\r\n'
           b'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"\r\n'
           b'sec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: "Windows"\r\nSec-Fetch-Site: same-site\r\n'
           b'Sec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\nX-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n'
           b'X-Forwarded-Proto: https\r\nVia: 1.1 edge-cache\r\n\r\n')


def rss_anon(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1])
    return -1


def read_answer(s):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError('closed')
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    n = int([l for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')][0].split(b':')[1])
    while len(body) < n:
        body += s.recv(65536)
    return head.split(b'\r\n')[0]


def main():
    port, pid, n, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    before = rss_anon(pid)
    socks, failed = [], 0
    for i in range(n):
        try:
            s = socket.create_connection(('127.0.0.1', port), timeout=10)
            if mode == 'idle':
                s.sendall(REQUEST)
                status = read_answer(s)
                if not status.startswith(b'HTTP/1.1 200'):
                    failed += 1
            else:
                s.sendall(REQUEST[:len(REQUEST) // 2])
            socks.append(s)
        except OSError:
            failed += 1
    # Let the server finish reading; then take the highest of a few samples.
    peak = 0
    for _ in range(5):
        time.sleep(1)
        peak = max(peak, rss_anon(pid))
    per = (peak - before) * 1024 / max(len(socks), 1)
    print('%s: %d connections held (%d failed), RssAnon %d kB before, %d kB held (%.1f MiB), %.0f bytes each'
          % (mode, len(socks), failed, before, peak, peak / 1024, per))
    for s in socks:
        s.close()


if __name__ == '__main__':
    main()
