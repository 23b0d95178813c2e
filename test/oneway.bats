#!/usr/bin/env bats
# ncat's one-way modes (issue 18): --recv-only, --send-only,
# --append-output for --output and --hex-dump, and --hex-dump - to stderr.

load helpers

@test "--recv-only takes what the peer sends and sends nothing of its input" {
	np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"from peer\n")
c.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
print("got [%s]" % data.hex(), flush=True)
'
	run -0 --separate-stderr timeout 10 "${NP[@]}" --recv-only 127.0.0.1 \
	    "$PY_PORT" <<<"secret"
	assert_output "from peer"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^got '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "got []"
}

@test "--send-only sends all its input past the peer's EOF, drops what the peer sends, and ends when input is done" {
	local in
	in=$(np_random_file in 3M)
	# The peer talks, ends its side at once, reads everything, and then
	# stays: only the end of input may end the client.
	np_python_listen STREAM '
import hashlib, time
c, _ = s.accept()
c.sendall(b"noise\n" * 100000)
c.shutdown(socket.SHUT_WR)
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
time.sleep(30)
'
	np_io "$in" "$BATS_TEST_TMPDIR/client.out" --send-only 127.0.0.1 \
	    "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/client.out")" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}

# A peer on connected socket c that talks all the time, through a
# thread, and reads what it is sent slowly through a small receive buffer
# (set before the connection is made), so that the sender's queue still
# holds bytes that the peer has no room for when the sender's input ends.
# It prints the sha256 of all it read, or "cut" and why when the
# connection was reset.
PY_TALK='
import hashlib, threading, time
done = threading.Event()
def talk():
    chunk = b"noise\0" * 2048
    end = time.monotonic() + 20
    try:
        while not done.is_set() and time.monotonic() < end:
            c.sendall(chunk)
            time.sleep(0.002)
    except OSError:
        pass
threading.Thread(target=talk, daemon=True).start()
h = hashlib.sha256()
try:
    while True:
        time.sleep(0.005)
        d = c.recv(16384)
        if not d:
            break
        h.update(d)
    print(h.hexdigest(), flush=True)
except OSError as e:
    print("cut:", e, flush=True)
done.set()
'

@test "--send-only: a peer that keeps talking while it reads slowly still gets every byte" {
	local in
	in=$(np_random_file in 4M)
	np_python_listen STREAM "c, _ = s.accept()$PY_TALK" 16384
	np_sent_all "$in" --send-only 127.0.0.1 "$PY_PORT"
}

@test "-q 0: a peer that keeps talking while it reads slowly still gets every byte" {
	local in
	in=$(np_random_file in 4M)
	np_python_listen STREAM "c, _ = s.accept()$PY_TALK" 16384
	np_sent_all "$in" -q 0 127.0.0.1 "$PY_PORT"
}

@test "-l --send-only: a client that keeps talking while it reads slowly still gets every byte" {
	local in
	in=$(np_random_file in 4M)
	NP_IN=$in np_listen --send-only 127.0.0.1 0
	run -0 timeout 20 python3 -c "
import socket, sys
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
c.connect(('127.0.0.1', int(sys.argv[1])))
$PY_TALK" "$NP_PORT"
	assert_output "$(np_sha "$in")"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
}

@test "--send-only: a peer that never reads holds the client no longer than -w" {
	local in
	in=$(np_random_file in 128K)
	# A send buffer that takes the whole input, and a peer that reads
	# nothing and stays: the end must come from the bound alone.
	np_python_listen STREAM '
import time
c, _ = s.accept()
time.sleep(30)
' 4096
	# Without -w the wait's own bound is 10 s: np_io's 8 would kill it.
	NP_TIMEOUT=8 np_io "$in" "$BATS_TEST_TMPDIR/client.out" --send-only \
	    -O 1048576 -w 1 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_STDERR" ""
	assert_equal "$NP_RC" 0
}

@test "--send-only from a pipe: a peer that keeps quiet does not hold the client after its input" {
	np_listen 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" --send-only 127.0.0.1 \
	    "$NP_PORT" < <(printf 'one\ntwo\n')
	np_wait_for "$BATS_TEST_TMPDIR/out" '^two$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "one
two"
}

@test "--append-output appends to --output instead of replacing it" {
	local f=$BATS_TEST_TMPDIR/received
	echo "before" >"$f"
	np_listen --output "$f" --append-output 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" -N 127.0.0.1 "$NP_PORT" <<<"after"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$f")" "before
after"
	# Without it the file is replaced, as before.
	np_listen --output "$f" 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" -N 127.0.0.1 "$NP_PORT" <<<"only"
	np_status "$NP_PID"
	assert_equal "$(cat "$f")" "only"
}

@test "--append-output appends to --hex-dump instead of replacing it" {
	local f=$BATS_TEST_TMPDIR/dump
	echo "earlier dump" >"$f"
	np_listen 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" -N --hex-dump "$f" --append-output \
	    127.0.0.1 "$NP_PORT" <<<"hi"
	assert_equal "$(cat "$f")" "earlier dump
> 3 bytes
00000000  68 69 0a                                          |hi.|"
}

@test "--hex-dump - writes the dump to stderr and creates no file" {
	cd "$BATS_TEST_TMPDIR"
	np_listen 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --hex-dump - \
	    127.0.0.1 "$NP_PORT" <<<"hi"
	assert_equal "$stderr" "> 3 bytes
00000000  68 69 0a                                          |hi.|"
	[ ! -e "$BATS_TEST_TMPDIR/-" ] || fail "a file named - was created"
}

@test "one-way options that make no sense are usage errors" {
	np_fails 2 'netpipe: --append-output requires --output or --hex-dump' \
	    --append-output 127.0.0.1 1
	np_fails 2 'netpipe: --send-only and -d cannot be used together' \
	    --send-only --recv-only 127.0.0.1 1
	np_fails 2 'netpipe: --send-only and --output cannot be used together' \
	    --send-only --output /dev/null 127.0.0.1 1
	np_fails 2 'netpipe: -e and --send-only cannot be used together' \
	    --send-only -e cat 127.0.0.1 1
}
