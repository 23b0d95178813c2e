"""A TCP relay for test/resume.bats that breaks the connections it carries.

Usage: python3 cutrelay.py PORTFILE TARGET_PORT SIZE CUTS MODE SEED COUNTFILE

It listens on 127.0.0.1 port 0 (the port goes to PORTFILE) and relays each
client to 127.0.0.1 TARGET_PORT.  CUTS times, at random points (SEED) between
5% and 95% of SIZE bytes received from the clients, it breaks the connection
it is carrying: MODE "reset" closes both sides with an RST, "drop" just
stops forwarding either way and leaves both open (a NAT that forgot the flow:
only a timeout can tell), "mixed" alternates.  MODE "verdict-reset" and
"verdict-drop" cut instead where the receiver's verdict goes back, the first
CUTS times: the DONE frame (type F, 33 bytes) never reaches the client, which
has sent its whole stream (SIZE and SEED are then unused).  On SIGTERM it
writes the total of bytes received from clients to COUNTFILE and exits.
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
verdicts = 0
if mode.startswith("verdict-"):
    verdicts, ncuts = ncuts, 0
cuts = sorted(rng.randrange(size // 20, size - size // 20)
              for _ in range(ncuts))
if mode == "mixed":
    kinds = ["reset" if i % 2 == 0 else "drop" for i in range(ncuts)]
else:
    kinds = [mode] * ncuts
DONE = b"F\0\0\0\0\0\0\x21"
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
                # A dropped flow stays silent after the client's close.
                if not state["dead"]:
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


def swallow_verdict(c, u, state, seen):
    """Whether seen (the receiver's bytes so far) holds a DONE frame that
    is to be cut off; then the connection is cut and DONE never passes."""
    global verdicts
    with lock:
        if verdicts == 0 or DONE not in seen:
            return False
        verdicts -= 1
        state["dead"] = True
    if mode == "verdict-reset":
        # upstream() is in c.recv(): wake it, or the RST waits for it.
        try:
            c.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        reset(c, u)
    else:
        held.append((c, u))
    return True


def downstream(c, u, state):
    seen = b""
    try:
        while True:
            d = u.recv(65536)
            if not d or state["dead"]:
                break
            # A frame header may be split across reads: keep a tail.
            seen = seen[-16:] + d
            if swallow_verdict(c, u, state, seen):
                return
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
