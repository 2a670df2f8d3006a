#!/usr/bin/env python3
# Linux TCP clients for the burst tests (test/interop/burst.test.ts), run in the lab's peer
# namespace against an echo server on the userspace stack. Every phase has a deadline; the script
# prints one JSON line per phase so the test reads what happened, not how long it took.
#
#   burst-peer.py close <host> <port> <n>  n clients each send 8 bytes and wait until the echo is
#                                          in their receive queue, unread; then all close at once,
#                                          so Linux answers each close with a RST (RFC 2525 2.17:
#                                          data left unread is lost, and the peer must learn it)
#   burst-peer.py echo <host> <port> <n>   n clients connect; then every one sends a 32-byte
#                                          request at once, and each reads its answer and closes
#                                          (FIN, all data read)
#   burst-peer.py hold <host> <port> <n>   n clients connect and are echoed once, then hold their
#                                          connections until killed
import json
import os
import resource
import select
import socket
import sys
import time

DEADLINE_S = 60


def emit(**fields):
    print(json.dumps(fields), flush=True)


def connect_all(host, port, n, poller):
    """n non-blocking connects issued back to back; returns the sockets once all are connected."""
    socks = {}
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        socks[s.fileno()] = s
        poller.register(s.fileno(), select.EPOLLOUT)
    pending = set(socks)
    failed = 0
    deadline = time.monotonic() + DEADLINE_S
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(1.0):
            if fd not in pending:
                continue
            pending.discard(fd)
            poller.modify(fd, 0)
            if socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                failed += 1
    return socks, len(pending) + failed


def wait_readable(socks, poller, fds):
    """Waits until every fd in fds has data queued (without reading it); returns how many did."""
    for fd in fds:
        poller.modify(fd, select.EPOLLIN)
    waiting = set(fds)
    deadline = time.monotonic() + DEADLINE_S
    while waiting and time.monotonic() < deadline:
        for fd, _ in poller.poll(1.0):
            if fd in waiting:
                waiting.discard(fd)
                poller.modify(fd, 0)
    return len(fds) - len(waiting)


def main():
    mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    limit = max(n + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    poller = select.epoll()
    socks, unconnected = connect_all(host, port, n, poller)
    emit(phase='connected', connected=n - unconnected)
    if unconnected:
        return 1

    if mode in ('close', 'hold'):
        for s in socks.values():
            s.send(b'unread!\n')
        echoed = wait_readable(socks, poller, list(socks))
        emit(phase='echoed', echoed=echoed)
        if mode == 'hold':
            time.sleep(DEADLINE_S * 10)
            return 0
        start = time.monotonic()
        for s in socks.values():
            s.close()
        emit(phase='closed', closed=len(socks), ms=round((time.monotonic() - start) * 1000, 1))
        return 0 if echoed == n else 1

    # echo: every request leaves before any answer is read.
    requests = {fd: b'%031d\n' % fd for fd in socks}
    start = time.monotonic()
    for fd, s in socks.items():
        s.send(requests[fd])
    sent_ms = (time.monotonic() - start) * 1000
    got = {fd: b'' for fd in socks}
    for fd in socks:
        poller.modify(fd, select.EPOLLIN)
    answered = 0
    wrong = 0
    deadline = time.monotonic() + DEADLINE_S
    while answered + wrong < n and time.monotonic() < deadline:
        for fd, _ in poller.poll(1.0):
            data = socks[fd].recv(64)
            got[fd] += data
            if len(got[fd]) >= 32 or not data:
                poller.unregister(fd)
                if got[fd] == requests[fd]:
                    answered += 1
                else:
                    wrong += 1
    emit(phase='answered', answered=answered, wrong=wrong, sentMs=round(sent_ms, 1),
         ms=round((time.monotonic() - start) * 1000, 1))
    for s in socks.values():
        s.close()
    return 0 if answered == n else 1


if __name__ == '__main__':
    os._exit(main())
