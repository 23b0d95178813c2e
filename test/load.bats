#!/usr/bin/env bats
# Load: 1000 sequential clients against -lk and 200 concurrent clients
# against --broker, every message counted on the far side, with no
# descriptor leaked and memory back where it started.

load helpers

# np_fds PID: how many descriptors PID has open.
np_fds() {
	ls "/proc/$1/fd" | wc -l
}

@test "-lk serves 1000 sequential python3 clients: every line once, no fd leak, flat RSS" {
	local fd0 rss0 out=$BATS_TEST_TMPDIR/out
	np_listen_exec -k 127.0.0.1 0
	# The first peer sets up what the pump keeps for good (the pipe of
	# its splice path): count from there.
	echo warm-up | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection closed$'
	fd0=$(np_fds "$NP_PID")
	rss0=$(np_rss_kb "$NP_PID")
	run -0 timeout 30 python3 -c '
import socket, sys
port = int(sys.argv[1])
for i in range(1000):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"client %d\n" % i)
    c.shutdown(socket.SHUT_WR)
    # The listener closes once it has the whole line: one at a time.
    if c.recv(1) != b"":
        sys.exit("data from the listener")
    c.close()
print("done")
' "$NP_PORT"
	assert_output done
	np_wait_for "$out" '^client 999$'
	assert_equal "$(cat "$out")" \
	    "$(echo warm-up; printf 'client %d\n' $(seq 0 999))"
	run -0 grep -c '^Connection closed$' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1001
	assert_equal "$(np_fds "$NP_PID")" "$fd0"
	np_rss_within "$NP_PID" "$rss0" 2048
}

@test "--broker relays 200 concurrent python3 clients: every line once to every other peer, no fd leak, flat RSS" {
	local fd0 rss0
	np_listen_exec --broker --max-conns 250 127.0.0.1 0
	fd0=$(np_fds "$NP_PID")
	rss0=$(np_rss_kb "$NP_PID")
	run -0 timeout 30 python3 -c '
import re, selectors, socket, sys, time
port, errf, n, m = int(sys.argv[1]), sys.argv[2], 200, 10

def peers(k):
    end = time.time() + 10
    while time.time() < end:
        c = re.findall(r"^Peers connected: (\d+)$", open(errf).read(), re.M)
        if c and int(c[-1]) == k:
            return
        time.sleep(0.01)
    sys.exit("the broker never had %d peers" % k)

socks = [socket.create_connection(("127.0.0.1", port), timeout=5)
         for i in range(n)]
peers(n)
line = lambda i, j: b"peer %03d line %02d %s\n" % (i, j, b"x" * 40)
out = [b"".join(line(i, j) for j in range(m)) for i in range(n)]
rbuf, got = [b""] * n, [0] * n
seen = [dict() for i in range(n)]
sel = selectors.DefaultSelector()
for i, s in enumerate(socks):
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, i)
expect, end = (n - 1) * m, time.time() + 20
while time.time() < end and (min(got) < expect or any(out)):
    for key, ev in sel.select(1):
        i, s = key.data, key.fileobj
        if ev & selectors.EVENT_WRITE and out[i]:
            out[i] = out[i][s.send(out[i]):]
            if not out[i]:
                sel.modify(s, selectors.EVENT_READ, i)
        if ev & selectors.EVENT_READ:
            d = s.recv(1 << 20)
            if not d:
                sys.exit("peer %d lost its connection" % i)
            lines = (rbuf[i] + d).split(b"\n")
            rbuf[i] = lines.pop()
            for l in lines:
                seen[i][l] = seen[i].get(l, 0) + 1
            got[i] += len(lines)
for i in range(n):
    want = {line(k, j)[:-1] for k in range(n) if k != i for j in range(m)}
    if set(seen[i]) != want or set(seen[i].values()) != {1} or rbuf[i]:
        sys.exit("peer %d: %d lines, %d distinct of %d" %
                 (i, got[i], len(seen[i]), len(want)))
for s in socks:
    s.close()
print("%d lines, each once where it belongs" % sum(got))
' "$NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_output "398000 lines, each once where it belongs"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	run -0 grep -c '^Connection received on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 200
	assert_equal "$(np_fds "$NP_PID")" "$fd0"
	np_rss_within "$NP_PID" "$rss0" 2048
}
