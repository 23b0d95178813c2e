#!/usr/bin/env bats
# Many peers at once: --broker, --chat, -k --max-conns (stdin to every
# peer), slow peers dropped or throttled, the UDP broker, -w as each peer's
# idle timeout, --accept-timeout and inherited listening sockets
# (--inherit-fd, systemd's LISTEN_FDS).

load helpers

# Python prelude for the tests below: argv[1] is the port, argv[2] the
# listener's stderr.  peers(n) waits until the broker reported n peers,
# received(n) until it has let n peers in since it started.
PY_PRE='
import re, selectors, socket, sys, time
port, errf = int(sys.argv[1]), sys.argv[2]

def peers(n):
    end = time.time() + 10
    while time.time() < end:
        m = re.findall(r"^Peers connected: (\d+)$", open(errf).read(), re.M)
        if m and int(m[-1]) == n:
            return
        time.sleep(0.01)
    sys.exit("the broker never had %d peers" % n)

def received(n):
    end = time.time() + 10
    while time.time() < end:
        if open(errf).read().count("Connection received on ") >= n:
            return
        time.sleep(0.01)
    sys.exit("the broker never let %d peers in" % n)

def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=5)

def readline(c):
    b = b""
    while not b.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        b += d
    return b
'

# PY_PRE plus a mesh of argv[3] fast peers, each sending argv[4] lines and
# reading everyone else's, in rounds of 10 lines: a round starts when every
# fast peer has all of the last one, so the fast peers never wait for the
# slow one, and none of them falls behind by more than a round.  argv[5]
# is "none", "drop" or "block" for a slow peer with a tiny receive buffer
# that reads nothing until the fast peers are done ("drop") or have
# stalled ("block").  argv[6] is the broker's PID.  Prints one verdict a
# line.
PY_MESH=$PY_PRE'
nfast, msgs, slow, pid = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
BATCH = 10

def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

slowsock = None
if slow != "none":
    slowsock = socket.socket()
    slowsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slowsock.connect(("127.0.0.1", port))
base = slowsock is not None
fast = []
for i in range(nfast):
    fast.append(conn())
    if i % 50 == 49:
        peers(base + i + 1)
peers(base + nfast)
line = lambda i, j: b"%04d %05d %s\n" % (i, j, b"x" * 40)
out, rbuf, got = [b""] * nfast, [b""] * nfast, [0] * nfast
seen = [dict() for _ in range(nfast)]
expect = (nfast - 1) * msgs
released = 0
sel = selectors.DefaultSelector()
for i, s in enumerate(fast):
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)

def release():
    global released
    if released >= msgs or any(g < (nfast - 1) * released for g in got):
        return
    for i, s in enumerate(fast):
        out[i] += b"".join(line(i, j) for j in
                           range(released, released + BATCH))
        sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE, i)
    released += BATCH

def run(limit, quiet):
    """Move data until every fast peer has all it expects (True), or
    nothing moved for quiet seconds or limit passed (False)."""
    end, last = time.time() + limit, time.time()
    while time.time() < end and time.time() - last < quiet:
        release()
        if all(g >= expect for g in got) and not any(out):
            return True
        for key, ev in sel.select(0.05):
            i, s = key.data, key.fileobj
            if ev & selectors.EVENT_WRITE and out[i]:
                out[i] = out[i][s.send(out[i]):]
                if not out[i]:
                    sel.modify(s, selectors.EVENT_READ, i)
            if ev & selectors.EVENT_READ:
                d = s.recv(1 << 20)
                if not d:
                    sys.exit("fast peer %d lost its connection" % i)
                last = time.time()
                lines = (rbuf[i] + d).split(b"\n")
                rbuf[i] = lines.pop()
                for l in lines:
                    seen[i][l] = seen[i].get(l, 0) + 1
                got[i] += len(lines)
    return False

def check():
    for i in range(nfast):
        want = {line(k, j)[:-1] for k in range(nfast) if k != i
                for j in range(msgs)}
        if set(seen[i]) != want or set(seen[i].values()) != {1}:
            sys.exit("fast peer %d: %d lines, %d distinct, %d expected" %
                     (i, got[i], len(seen[i]), len(want)))
    print("every fast peer got every line once")

def drain(s, limit):
    s.settimeout(limit)
    data = b""
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                return data, "closed"
            data += d
    except ConnectionResetError:
        return data, "closed"
    except socket.timeout:
        return data, "open"

if slow == "block":
    if run(10, 0.5):
        sys.exit("the fast peers never stalled")
    print("stalled with rss %d" % rss(), flush=True)
    extra = [drain(slowsock, 0.3)[0]]
    end = time.time() + 20
    while time.time() < end and sum(map(len, extra)) < nfast * msgs * 52:
        # Once the fast peers are done, only the slow one is left to wait on.
        slowsock.settimeout(1 if run(0.05, 1) else 0)
        try:
            extra.append(slowsock.recv(1 << 20))
        except (BlockingIOError, socket.timeout):
            pass
    check()
    lines = b"".join(extra).split(b"\n")[:-1]
    ok = sorted(lines) == sorted(line(i, j)[:-1] for i in range(nfast)
                               for j in range(msgs))
    print("the slow peer got every line once" if ok else
          "the slow peer got %d lines" % len(lines))
    sys.exit(0)
if not run(20, 5):
    sys.exit("stuck: %s of %d" % (sorted(set(got)), expect))
check()
if slow == "drop":
    data, state = drain(slowsock, 5)
    print("the slow peer was %s after %d of %d bytes" % (state,
          len(data), nfast * msgs * 52))
'

# np_broker ARGS...: a -v --broker listener on 127.0.0.1 with ARGS.
np_broker() {
	np_listen_exec --broker "$@" 127.0.0.1 0
}

@test "--broker relays what each python3 peer sends to every other peer, not back" {
	np_broker
	run -0 timeout 10 python3 -c "$PY_PRE"'
cs = [conn() for i in range(3)]
peers(3)
for i, c in enumerate(cs):
    c.sendall(b"from %d\n" % i)
for i, c in enumerate(cs):
    print(i, sorted([readline(c), readline(c)]))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "0 [b'from 1\\n', b'from 2\\n']
1 [b'from 0\\n', b'from 2\\n']
2 [b'from 0\\n', b'from 1\\n']"
}

@test "--broker carries 4 MiB with NUL bytes from nc.openbsd to nc.openbsd and socat intact" {
	local data
	data=$(np_random_file data 4194304)
	np_broker --broker-block
	nc.openbsd -d 127.0.0.1 "$NP_PORT" >"$BATS_TEST_TMPDIR/b" 3>&- &
	np_track $!
	socat -u "TCP:127.0.0.1:$NP_PORT" "OPEN:$BATS_TEST_TMPDIR/c,creat" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 2$'
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$data"
	np_wait_size "$BATS_TEST_TMPDIR/b" 4194304
	np_wait_size "$BATS_TEST_TMPDIR/c" 4194304
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/b")" "$(np_sha "$data")"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/c")" "$(np_sha "$data")"
}

@test "-v logs each peer's address, the peer count and each disconnect" {
	np_broker
	run -0 timeout 10 python3 -c "$PY_PRE"'
a = conn(); peers(1)
b = conn(); peers(2)
print(a.getsockname()[1], b.getsockname()[1])
a.close(); peers(1)
b.close(); peers(0)
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	read -r pa pb <<<"$output"
	run -0 cat "$BATS_TEST_TMPDIR/listen.err"
	assert_output "Listening on 127.0.0.1 $NP_PORT
Connection received on 127.0.0.1 $pa
Peers connected: 1
Connection received on 127.0.0.1 $pb
Peers connected: 2
Connection closed on 127.0.0.1 $pa
Peers connected: 1
Connection closed on 127.0.0.1 $pb
Peers connected: 0"
}

@test "--chat prefixes names, takes /nick, refuses control bytes and announces joins and leaves" {
	np_listen_exec --chat 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_PRE"'
a = conn(); peers(1)
A = lambda: print("a:", readline(a))
B = lambda: print("b:", readline(b))
A()
b = conn(); peers(2)
B(); A()
a.sendall(b"hello\n"); B()
a.sendall(b"/nick alice\n"); A(); B()
b.sendall(b"/nick bo\x01b\n"); B()
b.sendall(b"/nick alice\n"); B()
b.sendall(b"/nick user7\n"); B()
b.sendall(b"hi alice\r\n"); A()
a.sendall(b"no newline")
a.close(); B(); B()
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "a: b'<announce> you are <user1>; 0 others are here.\\n'
b: b'<announce> you are <user2>; 1 other is here.\\n'
a: b'<announce> <user2> has joined.\\n'
b: b'<user1> hello\\n'
a: b'<announce> <user1> is now known as <alice>.\\n'
b: b'<announce> <user1> is now known as <alice>.\\n'
b: b'<announce> /nick refused: control bytes, blanks, < and > are not allowed.\\n'
b: b'<announce> /nick refused: that name is taken.\\n'
b: b'<announce> /nick refused: that name is reserved.\\n'
a: b'<user2> hi alice\\n'
b: b'<alice> no newline\\n'
b: b'<announce> <alice> has left.\\n'"
}

@test "--chat refuses a reserved userN name even on a last line without a newline" {
	np_listen_exec --chat 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_PRE"'
a = conn(); peers(1)
A = lambda: print("a:", readline(a))
A()
b = conn(); peers(2)
readline(b); A()
b.sendall(b"/nick user77\n"); print("b:", readline(b))
b.sendall(b"/nick user7")
b.close(); A()
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "a: b'<announce> you are <user1>; 0 others are here.\\n'
a: b'<announce> <user2> has joined.\\n'
b: b'<announce> /nick refused: that name is reserved.\\n'
a: b'<announce> <user2> has left.\\n'"
}

@test "-k --max-conns sends stdin to every peer and every peer's data to stdout" {
	np_fifo_held in
	NP_IN=$FIFO np_listen_exec -k --max-conns 3 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_PRE"'
import os
a, b = conn(), conn()
peers(2)
with open(sys.argv[3], "w") as f:
    f.write("to all\n")
print(readline(a), readline(b))
a.sendall(b"from a\n")
b.sendall(b"from b\n")
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err" "$FIFO"
	assert_output "b'to all\\n' b'to all\\n'"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^from b$'
	np_wait_for "$BATS_TEST_TMPDIR/out" '^from a$'
	run -0 sort "$BATS_TEST_TMPDIR/out"
	assert_output "from a
from b"
}

@test "-k --max-conns -N ends each peer with EOF once stdin has ended" {
	printf 'bye\n' >"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen_exec -k -N --max-conns 2 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_PRE"'
a = conn()
print(a.makefile("rb").read())
b = conn()
print(b.makefile("rb").read())
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "b'bye\\n'
b''"
}

@test "--max-conns 2 keeps a third --broker peer waiting until one leaves" {
	np_broker --max-conns 2
	run -0 timeout 10 python3 -c "$PY_PRE"'
a, b = conn(), conn()
peers(2)
c = conn()
a.sendall(b"one\n")
print(readline(b))
c.settimeout(0.3)
try:
    print(c.recv(10))
except socket.timeout:
    print("c waits")
a.close()
received(3)
peers(2)
b.sendall(b"two\n")
c.settimeout(5)
print(readline(c))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "b'one\\n'
c waits
b'two\\n'"
	run grep -c '^Peers connected: 3$' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 0
}

@test "a slow peer that never reads is dropped while 50 fast peers keep flowing" {
	local rss0
	# -O 4096: a small kernel send buffer per peer, so that the queue is
	# what fills up, not megabytes of socket buffer.
	np_broker --queue-size 64K --max-conns 60 -O 4096
	rss0=$(np_rss_kb "$NP_PID")
	run -0 timeout 30 python3 -c "$PY_MESH" "$NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err" 50 200 drop "$NP_PID"
	assert_line -n 0 "every fast peer got every line once"
	assert_line -n 1 --regexp '^the slow peer was closed after [0-9]+ of 520000 bytes$'
	run -0 grep -E '^netpipe: 127\.0\.0\.1 [0-9]+: output queue full \(65536 bytes\), peer dropped$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	np_rss_within "$NP_PID" "$rss0" 2048
}

@test "--broker-block throttles the senders for a slow peer and loses nothing" {
	local rss0
	np_broker --broker-block --queue-size 16K -O 4096
	rss0=$(np_rss_kb "$NP_PID")
	run -0 timeout 30 python3 -c "$PY_MESH" "$NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err" 20 200 block "$NP_PID"
	assert_line -n 0 --regexp '^stalled with rss [0-9]+$'
	# Bounded while stalled: the queues hold little more than --queue-size.
	if [[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]; then
		((${lines[0]##* } - rss0 < 2048))
	fi
	assert_line -n 1 "every fast peer got every line once"
	assert_line -n 2 "the slow peer got every line once"
	run grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 0
}

@test "a UDP --broker relays python3 datagrams, empty ones too, to every other sender" {
	np_listen_exec -u --broker 127.0.0.1 0
	run -0 timeout 10 python3 -c '
import socket, sys
port = int(sys.argv[1])
s = []
for i in range(3):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    s.append(u)
a, b, c = s
def send(u, m):
    u.sendto(m, ("127.0.0.1", port))
send(a, b"a1")
send(b, b"b1")
send(c, b"c1")
send(b, b"")
send(a, b"a2")
for name, u, n in (("a", a, 3), ("b", b, 2), ("c", c, 2)):
    print(name, [u.recv(100) for i in range(n)])
' "$NP_PORT"
	assert_output "a [b'b1', b'c1', b'']
b [b'c1', b'a2']
c [b'', b'a2']"
}

# -w in the hub: an idle timeout for each peer on its own.  PY_IDLE adds to
# PY_PRE: stuck() is a peer with a tiny receive buffer (it never reads, or
# reads slowly), small_sndbuf() one with a tiny send buffer, closed(c)
# whether the listener has logged c's end, until(cond, limit) a bounded
# wait, Reader(c) reads c on a thread into .data and notes the time of its
# end in .eof, and about(t) says whether t seconds is about -w 1.
PY_IDLE=$PY_PRE'
import os, threading

def stuck():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    return s

def small_sndbuf():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.connect(("127.0.0.1", port))
    return s

def closed(c):
    return re.search(r"^Connection closed on 127\.0\.0\.1 %d(:.*)?$" %
                     c.getsockname()[1], open(errf).read(), re.M) is not None

def until(cond, limit):
    end = time.time() + limit
    while not cond():
        if time.time() > end:
            return False
        time.sleep(0.01)
    return True

class Reader:
    def __init__(self, c):
        self.c, self.data, self.eof = c, bytearray(), None
        threading.Thread(target=self.run, daemon=True).start()
    def run(self):
        try:
            while True:
                d = self.c.recv(65536)
                if not d:
                    break
                self.data += d
        except OSError:
            pass
        self.eof = time.time()

def about(t):
    if t is None:
        return "never"
    # -w 1 and the 0.2 s steps of the tests; generous for a loaded machine.
    return "about a second" if 0.8 <= t <= 2.5 else "%.2f s" % t

def trickle(c, seconds):
    """Take a little from c every 0.3 s for that long: not idle, but so
    slow that its queue stays full.  Returns what came."""
    got = bytearray()
    c.settimeout(0.3)
    end = time.time() + seconds
    while time.time() < end:
        try:
            got += c.recv(65536)
        except socket.timeout:
            pass
        time.sleep(0.3)
    c.settimeout(None)
    return got

def all_came(rr, slow, got, data):
    """Read slow to the end; say whether it and the reader rr got data."""
    rs = Reader(slow)
    until(lambda: len(rr.data) >= len(data) and
          len(got) + len(rs.data) >= len(data), 20)
    print("the reader got it all:", bytes(rr.data) == data)
    print("the slow peer got it all:", bytes(got + rs.data) == data)

def send_behind(c, data):
    """Send data on c from a thread, then shut down; returns a list that
    gets "sent", or the error, when it is over."""
    done = []
    def send():
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            done.append("sent")
        except OSError as e:
            done.append(e)
    threading.Thread(target=send, daemon=True).start()
    return done
'

@test "-w 1 closes a --broker peer that takes nothing, keeps a sender and a reader, and accepts the next" {
	np_skip_timing_if_wrapped
	# -O 4096: the stuck peer's socket fills at once, and its queue grows.
	np_broker -w 1 -O 4096
	run -0 timeout 20 python3 -c "$PY_IDLE"'
stuck_peer = stuck()
peers(1)
a, b = conn(), conn()
peers(3)
rb = Reader(b)
t0 = time.time()
a.sendall(b"x" * 262143 + b"\n")
sent, gone = 262144, None
# a sends a line every 0.2 s for 3 s; b only reads.
for i in range(15):
    time.sleep(0.2)
    tick = b"tick %d\n" % i
    a.sendall(tick)
    sent += len(tick)
    if gone is None and closed(stuck_peer):
        gone = time.time() - t0
print("the stuck peer was closed after", about(gone))
until(lambda: len(rb.data) >= sent, 5)
print("the reader got all", len(rb.data) == sent and
      rb.data.endswith(b"tick 14\n"))
print("the sender or the reader closed:",
      closed(a) or closed(b) or rb.eof is not None)
c = conn()
peers(3)
a.sendall(b"after\n")
t1 = time.time()
print("the next peer got", readline(c))
c.settimeout(5)
print("idle, it was closed after",
      about(time.time() - t1) if c.recv(1) == b"" else "data")
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "the stuck peer was closed after about a second
the reader got all True
the sender or the reader closed: False
the next peer got b'after\\n'
idle, it was closed after about a second"
	# Each went as a peer that leaves does, and the listener goes on.
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	run grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 0
	run grep -c '^Connection closed on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 4
	kill -0 "$NP_PID"
}

@test "-w 1: --chat announces the leave of a peer that took nothing for a second" {
	np_skip_timing_if_wrapped
	np_listen_exec --chat -w 1 -O 4096 127.0.0.1 0
	run -0 timeout 20 python3 -c "$PY_IDLE"'
alice = stuck()
peers(1)
bob = conn()
peers(2)
print("bob:", readline(bob))
t0 = time.time()
# Enough lines to fill the socket of alice, who never reads.
bob.sendall(b"".join(b"%04d %s\n" % (i, b"y" * 900) for i in range(200)))
bob.settimeout(0.2)
got = b""
# bob goes on talking every 0.2 s, so he is never idle himself.
while b"has left" not in got and time.time() - t0 < 5:
    bob.sendall(b"tick\n")
    try:
        got += bob.recv(4096)
    except socket.timeout:
        pass
print("bob:", got, "after", about(time.time() - t0))
print("bob closed:", closed(bob))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "bob: b'<announce> you are <user2>; 1 other is here.\\n'
bob: b'<announce> <user1> has left.\\n' after about a second
bob closed: False"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$'
	kill -0 "$NP_PID"
}

@test "-k --max-conns 2 -w 1 closes an idle peer; data from a peer or from stdin keeps one" {
	np_skip_timing_if_wrapped
	np_fifo_held in
	NP_IN=$FIFO np_listen_exec -k --max-conns 2 -w 1 127.0.0.1 0
	run -0 timeout 20 python3 -c "$PY_IDLE"'
fifo = sys.argv[3]
t0 = time.time()
idle, sender = conn(), conn()
peers(2)
ri = Reader(idle)
# The sender sends a line every 0.2 s for 2 s; nothing is on stdin.
for i in range(10):
    sender.sendall(b"r %d\n" % i)
    time.sleep(0.2)
print("the idle peer was closed after", about(ri.eof and ri.eof - t0))
print("the sender closed:", closed(sender))
# Its place goes to the next, which is sent a stdin line every 0.2 s.
reader = conn()
received(3)
peers(2)
rr = Reader(reader)
with open(fifo, "w") as f:
    for i in range(10):
        time.sleep(0.2 * (i > 0))
        f.write("in %d\n" % i)
        f.flush()
        t1 = time.time()
print("the stdin reader closed:", closed(reader) or rr.eof is not None)
until(lambda: rr.eof is not None, 5)
print("it got", bytes(rr.data) == b"".join(b"in %d\n" % i for i in range(10)),
      "and then, idle, was closed after", about(rr.eof and rr.eof - t1))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err" "$FIFO"
	assert_output "the idle peer was closed after about a second
the sender closed: False
the stdin reader closed: False
it got True and then, idle, was closed after about a second"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'r %d\n' 0 1 2 3 4 5 6 7 8 9)"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	kill -0 "$NP_PID"
}

@test "without -w no peer of --broker, --chat or -k --max-conns is closed for being idle" {
	local m pids=() ports=() modes=(--broker --chat "-k --max-conns 2")
	for m in 0 1 2; do
		# shellcheck disable=SC2086
		NP_ERR=$BATS_TEST_TMPDIR/err$m NP_OUT=$BATS_TEST_TMPDIR/out$m \
		    np_listen_exec ${modes[m]} 127.0.0.1 0
		ports+=("$NP_PORT")
	done
	for m in 0 1 2; do
		timeout 30 nc.openbsd -d 127.0.0.1 "${ports[m]}" \
		    >"$BATS_TEST_TMPDIR/nc$m" 3>&- &
		pids+=($!)
		np_track $!
		np_wait_for "$BATS_TEST_TMPDIR/err$m" '^Peers connected: 1$'
	done
	# The last one in has been idle for 1.5 s, the others for longer.
	np_alive_for "${pids[2]}" 1500
	kill -0 "${pids[0]}" "${pids[1]}"
	for m in 0 1 2; do
		run grep -c '^Connection closed' "$BATS_TEST_TMPDIR/err$m"
		assert_output 0
	done
}

@test "--broker-block -w 1: a sender held back for a slow peer is not closed as idle, and nothing is lost" {
	np_skip_timing_if_wrapped
	np_broker --broker-block --queue-size 16K -O 4096 -w 1
	run -0 timeout 30 python3 -c "$PY_IDLE"'
slow = stuck()
peers(1)
sender, reader = small_sndbuf(), conn()
peers(3)
rr = Reader(reader)
data = os.urandom(1 << 20)
done = send_behind(sender, data)
# The others are not read for well over a second.
got = trickle(slow, 2.7)
print("held for 2.7 s, the sender still sending:", not done)
print("closed:", closed(sender), closed(reader), closed(slow))
all_came(rr, slow, got, data)
print("the sender:", done)
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "held for 2.7 s, the sender still sending: True
closed: False False False
the reader got it all: True
the slow peer got it all: True
the sender: ['sent']"
}

@test "-k --max-conns -w 1: a peer sent no stdin while another is slow is not closed as idle" {
	np_skip_timing_if_wrapped
	np_fifo_held in
	NP_IN=$FIFO np_listen_exec -k --max-conns 2 -O 4096 -w 1 127.0.0.1 0
	run -0 timeout 30 python3 -c "$PY_IDLE"'
fifo = sys.argv[3]
slow, reader = stuck(), conn()
peers(2)
rr = Reader(reader)
# More than the 1 MiB queue of the slow peer: stdin is then held back for it.
data = os.urandom(3 << 19)
done = []
def feed():
    with open(fifo, "wb") as f:
        f.write(data)
    done.append(True)
threading.Thread(target=feed, daemon=True).start()
until(lambda: len(rr.data) >= 1 << 20, 10)
got = trickle(slow, 2.7)
print("stdin held for 2.7 s:", not done and len(rr.data) < len(data))
print("closed:", closed(reader), closed(slow))
all_came(rr, slow, got, data)
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err" "$FIFO"
	assert_output "stdin held for 2.7 s: True
closed: False False
the reader got it all: True
the slow peer got it all: True"
}

@test "-k --max-conns -w 1: a peer not read while stdout is full is not closed as idle, and nothing is lost" {
	local fifo=$BATS_TEST_TMPDIR/stdout go=$BATS_TEST_TMPDIR/go
	np_skip_timing_if_wrapped
	mkfifo "$fifo"
	# The reader of netpipe's stdout opens it first, then reads nothing
	# until told to.
	python3 -c '
import hashlib, os, sys, time
f = open(sys.argv[1], "rb")
end = time.time() + 20
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.01)
h, n = hashlib.sha256(), 0
while n < 3 << 20:
    d = f.read1(65536)
    if not d:
        break
    h.update(d)
    n += len(d)
print(n, h.hexdigest(), flush=True)
' "$fifo" "$go" >"$BATS_TEST_TMPDIR/stdout.sum" 3>&- &
	np_track $!
	# -I 4096: the kernel does not take the sender's data in its place.
	NP_OUT=$fifo np_listen_exec -k --max-conns 2 -I 4096 -w 1 127.0.0.1 0
	run -0 timeout 30 python3 -c "$PY_IDLE"'
import hashlib
go = sys.argv[3]
sender = small_sndbuf()
peers(1)
# More than the 1 MiB stdout queue and the pipe: the sender is then not read.
data = os.urandom(3 << 20)
done = send_behind(sender, data)
until(lambda: done, 2.5)
print("held for 2.5 s, still sending:", not done, "closed:", closed(sender))
open(go, "w").close()
until(lambda: done, 20)
print("the sender:", done)
print(len(data), hashlib.sha256(data).hexdigest())
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err" "$go"
	assert_line -n 0 "held for 2.5 s, still sending: True closed: False"
	assert_line -n 1 "the sender: ['sent']"
	np_wait_for "$BATS_TEST_TMPDIR/stdout.sum" '^[0-9]+ '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/stdout.sum")" "${lines[2]}"
}

@test "-u --broker -w 1 forgets a peer not heard from for a second, and takes it back when it sends" {
	np_skip_timing_if_wrapped
	np_listen_exec -u --broker -w 1 127.0.0.1 0
	run -0 timeout 20 python3 -c "$PY_IDLE"'
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(5)
    return u
quiet, talker = udp(), udp()
send = lambda u, m: u.sendto(m, ("127.0.0.1", port))
t0 = time.time()
send(quiet, b"q1")
peers(1)
send(talker, b"t0")
print("quiet got", quiet.recv(100))
# The talker sends every 0.2 s; what quiet is sent keeps nothing alive.
i, gone = 0, None
while gone is None and time.time() - t0 < 5:
    time.sleep(0.2)
    i += 1
    send(talker, b"t%d" % i)
    if closed(quiet):
        gone = time.time() - t0
print("quiet was forgotten after", about(gone), "talker too:", closed(talker))
quiet.settimeout(0)
# What it was sent before it was forgotten, and nothing after.
try:
    while True:
        quiet.recv(100)
except BlockingIOError:
    pass
send(talker, b"unheard")
send(quiet, b"q2")
received(3)
print("talker got", talker.recv(100))
quiet.settimeout(5)
send(talker, b"heard")
print("quiet got", quiet.recv(100))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "quiet got b't0'
quiet was forgotten after about a second talker too: False
talker got b'q2'
quiet got b'heard'"
	run -0 grep -c '^Connection closed on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "--accept-timeout: a listener nobody reaches exits 1 with a message" {
	local t0 t1 i pids=() modes=("" --broker "-e cat" -u)
	t0=$(np_now)
	# All four at once: each waits out its second.
	for i in 0 1 2 3; do
		# shellcheck disable=SC2086
		"${NP[@]}" -l ${modes[i]} --accept-timeout 1 127.0.0.1 0 \
		    </dev/null >"$BATS_TEST_TMPDIR/out$i" \
		    2>"$BATS_TEST_TMPDIR/err$i" 3>&- &
		pids+=($!)
		np_track $!
	done
	for i in 0 1 2 3; do
		np_status "${pids[i]}"
		assert_equal "$NP_STATUS" 1
		assert_equal "$(cat "$BATS_TEST_TMPDIR/err$i")" \
		    "netpipe: accept: timed out after 1 second (--accept-timeout)"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/out$i")" ""
	done
	t1=$(np_now)
	((t1 - t0 >= 900))
	# A wrapper such as valgrind takes seconds to start.
	[ -n "${NETPIPE_WRAP:-}" ] || ((t1 - t0 < 5000))
}

@test "--accept-timeout does not limit a peer that arrived in time" {
	np_fifo_held in
	np_listen_exec --accept-timeout 1 127.0.0.1 0
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$FIFO" 3>&- &
	np_track $!
	echo early >"$FIFO"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^early$'
	# Still serving well past the timeout.
	np_alive_for "$NP_PID" 1500
	echo late >"$FIFO"
	kill "$HOLDER_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "early
late"
}

# Start "${NP[@]}" ARGS... on a listening TCP socket that python3 made on
# 127.0.0.1 port 0 and handed over as fd FD (0: inetd's stdin; 3 with
# LISTEN_PID/LISTEN_FDS set as systemd does when SD is "sd", or with a
# LISTEN_PID that is not netpipe's when SD is "other").  Sets NP_PID and
# NP_PORT; stderr goes to listen.err, stdout to out.
np_inherit() {
	local fd=$1 sd=$2 portfile=$BATS_TEST_TMPDIR/inherit.port
	shift 2
	python3 -c '
import os, socket, sys
fd, sd, portfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
if s.fileno() != fd:
    os.dup2(s.fileno(), fd)
os.set_inheritable(fd, True)
if sd != "no":
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid() + (sd == "other"))
os.execvp(sys.argv[4], sys.argv[4:])
' "$fd" "$sd" "$portfile" "${NP[@]}" "$@" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/listen.err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$portfile" '^[0-9]+$'
	NP_PORT=$(cat "$portfile")
}

@test "--inherit-fd 0 serves on a listening socket passed as stdin, inetd-style" {
	np_inherit 0 no -v -l --inherit-fd 0 --sh-exec 'echo inherited'
	run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	assert_output inherited
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	run -0 head -n 1 "$BATS_TEST_TMPDIR/listen.err"
	assert_output "Listening on 127.0.0.1 $NP_PORT"
}

@test "systemd's LISTEN_FDS: fd 3 is served, and -e children do not see LISTEN_PID" {
	np_inherit 3 sd -v -l -k --sh-exec 'echo "pid=${LISTEN_PID:-unset}"'
	for i in 1 2; do
		run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
		assert_output pid=unset
	done
	kill -0 "$NP_PID"
}

@test "LISTEN_FDS meant for another process is ignored" {
	np_inherit 3 other -l
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 2
	run -0 head -n 1 "$BATS_TEST_TMPDIR/listen.err"
	assert_output "netpipe: missing port"
}

@test "--inherit-fd refuses what is not a listening socket, and an address or port" {
	np_fails 1 'netpipe: inherited descriptor 0: Socket operation on non-socket' \
	    -l --inherit-fd 0
	np_fails 2 'netpipe: --inherit-fd: the socket is inherited; give no address, port or path' \
	    -l --inherit-fd 0 9000
}

@test "listener options that need another are usage errors" {
	np_fails 2 'netpipe: --max-conns requires -k or --broker' \
	    -l --max-conns 3 0
	np_fails 2 'netpipe: --broker-block requires --broker' \
	    -l --broker-block 0
	np_fails 2 'netpipe: --queue-size requires --broker' \
	    -l -k --queue-size 1K 0
	np_fails 2 'netpipe: --chat requires -l' --chat 127.0.0.1 1
	np_fails 2 'netpipe: --chat and -e cannot be used together' \
	    -l --chat -e cat 0
	np_fails 2 'netpipe: --chat and -u cannot be used together' \
	    -l -u --chat 0
	np_fails 2 'netpipe: --queue-size: "0" is too small' \
	    -l --broker --queue-size 0 0
	np_fails 2 'netpipe: --max-conns: "0" is too small' \
	    -l --broker --max-conns 0 0
}

@test "--chat takes --queue-size and --broker-block like --broker" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l --chat \
	    --queue-size 1K --broker-block --accept-timeout 1 127.0.0.1 0 \
	    </dev/null
	assert_equal "$stderr" \
	    "netpipe: accept: timed out after 1 second (--accept-timeout)"
}
