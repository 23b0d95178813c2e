#!/usr/bin/env bats
# Hostile peers and hostile surroundings (issue 19): a chat peer that
# floods and never reads, peers that never read in every many-peer mode,
# connect-and-reset bursts against every kind of listener, proxies that
# flood or lie, a -lU socket file swapped under the listener, side files
# that cannot be written, and chat text that tries to rewrite a terminal.
# Each attack either broke a promise once or is one that held; both stay
# here so that they keep holding.

load helpers

# Whether RSS can be measured: not under ASan or valgrind, whose own
# memory grows by design (as np_rss_within says).
rss_measured() {
	[[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]
}

# Python prelude: argv[1] the port, argv[2] the listener's PID, argv[3]
# the most its RSS may grow (KiB; 0: not measured).
PY_HOSTILE='
import os, re, select, socket, sys, time
port, pid, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

rss0 = rss()

def rss_ok():
    grown = rss() - rss0
    if limit and grown > limit:
        sys.exit("RSS grew by %d KiB (limit %d)" % (grown, limit))
    return grown

def conn(rcvbuf=0):
    c = socket.socket()
    if rcvbuf:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.connect(("127.0.0.1", port))
    c.settimeout(10)
    return c

def until(c, text):
    """Read c until text has arrived; what came, or exit."""
    got, end = b"", time.time() + 10
    while text not in got and time.time() < end:
        d = c.recv(65536)
        if not d:
            break
        got += d
    if text not in got:
        sys.exit("never got %r, only %r" % (text, got[-200:]))
    return got
'

# The issue's attack: a chat peer floods "/nick" lines, each answered to
# itself, and never reads.  While two others chat for 10 s the listener
# stays within a few MiB; once the flooder leaves, they chat again.
PY_NICK_FLOOD=$PY_HOSTILE'
flood = conn(4096)
flood.setblocking(False)
b, c = conn(), conn()
until(b, b"<user3> has joined")
burst = b"/nick\n" * 4096
sent = peak = 0
end = time.time() + 10
i = 0
while time.time() < end:
    try:
        if flood is None:
            time.sleep(0.05)
        else:
            sent += flood.send(burst)
    except BlockingIOError:
        select.select([], [flood], [], 0.05)
    except (BrokenPipeError, ConnectionResetError):
        flood = None
    i += 1
    if i % 20 == 0:
        for s, who in ((b, b"b"), (c, b"c")):
            try:
                s.send(b"%s says %d\n" % (who, i))
            except BlockingIOError:
                pass
        b.setblocking(False); c.setblocking(False)
        for s in (b, c):
            try:
                s.recv(1 << 20)
            except BlockingIOError:
                pass
        peak = max(peak, rss_ok())
print("flooded %s" % ("yes" if sent > 1 << 18 else "no: %d" % sent))
if flood is not None:
    flood.close()
b.setblocking(True); c.setblocking(True)
b.sendall(b"still here\n")
until(c, b"<user2> still here\n")
print("chat goes on")
print("peak %d KiB" % peak, file=sys.stderr)
'

@test "a /nick flood from a chat peer that never reads keeps --broker-block within its bound, and the chat goes on" {
	local limit=0
	rss_measured && limit=$((64 + 4096))
	np_listen_exec --chat --broker-block --queue-size 64K 127.0.0.1 0
	run -0 --separate-stderr timeout 40 python3 -c "$PY_NICK_FLOOD" \
	    "$NP_PORT" "$NP_PID" "$limit"
	assert_line -n 0 "flooded yes"
	assert_line -n 1 "chat goes on"
	echo "# $stderr" >&3
}

@test "a /nick flood from a chat peer that never reads gets it dropped, and the chat goes on" {
	local limit=0
	rss_measured && limit=$((64 + 4096))
	np_listen_exec --chat --queue-size 64K 127.0.0.1 0
	run -0 --separate-stderr timeout 40 python3 -c "$PY_NICK_FLOOD" \
	    "$NP_PORT" "$NP_PID" "$limit"
	assert_line -n 1 "chat goes on"
	run grep -Ec '^netpipe: 127\.0\.0\.1 [0-9]+: output queue full \(65536 bytes\), peer dropped$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

# A peer that never reads while another sends 32 MiB at it, and the
# listener's RSS is checked all along.  Prints whether the sender got all
# of it out (the silent peer was dropped, or is not sent to) or was held
# back (no progress for 2 s).
PY_SILENT=$PY_HOSTILE'
silent = conn(4096)
sender = conn()
sender.setblocking(False)
chunk = (b"x" * 99 + b"\n") * 655
total, last = 0, time.time()
while total < 32 << 20 and time.time() - last < 2:
    try:
        n = sender.send(chunk)
        total += n
        last = time.time()
    except BlockingIOError:
        select.select([sender], [sender], [], 0.05)
    except (BrokenPipeError, ConnectionResetError):
        sys.exit("the sender lost its connection")
    rss_ok()
    try:
        sender.recv(1 << 20)
    except BlockingIOError:
        pass
print("sent all" if total >= 32 << 20 else "held back")
'

# silent_peer WANT ARGS...: a listener with ARGS (-O 4096: a small socket
# buffer, so that the queue is what fills), a silent peer and a sender;
# the sender's verdict must be WANT, RSS must stay within the default
# 1 MiB queue and a few MiB, and the listener must end by SIGTERM.
silent_peer() {
	local want=$1 limit=0
	shift
	rss_measured && limit=$((1024 + 4096))
	NP_OUT=/dev/null np_listen_exec "$@" -O 4096 127.0.0.1 0
	run -0 timeout 40 python3 -c "$PY_SILENT" "$NP_PORT" "$NP_PID" "$limit"
	assert_output "$want"
	kill "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
}

@test "--broker: a peer that never reads is dropped at its queue bound" {
	silent_peer "sent all" --broker
	run -0 grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
}

@test "--broker --broker-block: a peer that never reads holds the sender back within the bound" {
	silent_peer "held back" --broker --broker-block
}

@test "--chat: a peer that never reads is dropped at its queue bound" {
	silent_peer "sent all" --chat
	run -0 grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
}

@test "--chat --broker-block: a peer that never reads holds the sender back within the bound" {
	silent_peer "held back" --chat --broker-block
}

@test "-k --max-conns: a peer that never reads holds endless stdin back within the bound" {
	NP_IN=/dev/zero silent_peer "sent all" -k --max-conns 4
}
