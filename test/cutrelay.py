"""A TCP relay for test/resume.bats that breaks the connections it carries.

Usage: python3 cutrelay.py PORTFILE TARGET_PORT SIZE CUTS MODE SEED COUNTFILE

It listens on 127.0.0.1 port 0 (the port goes to PORTFILE) and relays each
client to 127.0.0.1 TARGET_PORT.  CUTS times, at random points (SEED) between
5% and 95% of SIZE bytes received from the clients, it breaks the connection
it is carrying: MODE "reset" closes both sides with an RST, "drop" just
stops forwarding either way and leaves both open (a NAT that forgot the flow:
only a timeout can tell), "mixed" alternates.  On SIGTERM it writes the total
of bytes received from clients to COUNTFILE and exits.
"""

import os
import random
import signal
import socket
import struct
import sys
import threading

portfile, target, size, ncuts, mode, seed, countfile = sys.argv[1:8]
target, size, ncuts = int(target), int(size), int(ncuts)
rng = random.Random(int(seed))
cuts = sorted(rng.randrange(size // 20, size - size // 20)
              for _ in range(ncuts))
if mode == "mixed":
    kinds = ["reset" if i % 2 == 0 else "drop" for i in range(ncuts)]
else:
    kinds = [mode] * ncuts
lock = threading.Lock()
total = 0
held = []


def write_count(*_):
    with open(countfile + ".tmp", "w") as f:
        f.write("%d\n" % total)
    os.rename(countfile + ".tmp", countfile)
    os._exit(0)


def reset(*socks):
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass


def upstream(c, u, state):
    global total
    try:
        while True:
            d = c.recv(65536)
            if not d:
                u.shutdown(socket.SHUT_WR)
                return
            with lock:
                if state["dead"]:
                    return
                total += len(d)
                kind = None
                if cuts and total >= cuts[0]:
                    cuts.pop(0)
                    kind = kinds.pop(0)
                    state["dead"] = True
            if kind == "reset":
                reset(c, u)
                return
            if kind == "drop":
                held.append((c, u))
                return
            u.sendall(d)
    except OSError:
        reset(c, u)


def downstream(c, u, state):
    try:
        while True:
            d = u.recv(65536)
            if not d or state["dead"]:
                break
            c.sendall(d)
        if not state["dead"]:
            c.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main():
    signal.signal(signal.SIGTERM, write_count)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = s.accept()
        try:
            u = socket.create_connection(("127.0.0.1", target))
        except OSError:
            c.close()
            continue
        state = {"dead": False}
        for fn in (upstream, downstream):
            threading.Thread(target=fn, args=(c, u, state),
                             daemon=True).start()


main()
