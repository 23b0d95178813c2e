#!/usr/bin/env bats
# End-of-stream semantics (SPEC section 2): input EOF with and without -N,
# -q, -d, the peer's EOF, --half-close, a closed stdout, a reader of stdout
# that leaves with or without bytes pending, input the peer did not take
# (-N, --send-file, a regular file), a peer reset, signals, and
# back-pressure from a slow reader.

load helpers

# python3 servers (run by np_python_listen with `s` listening).  Files
# come in through NP_PY_FILE (data to send) and NP_PY_GO (a file whose
# appearance releases the server).

# Read the request line, report whether EOF follows within 0.3 s (it must
# not without -N), then send NP_PY_FILE and close.
PY_NO_SHUTDOWN='
import os, select
c, a = s.accept()
buf = b""
while not buf.endswith(b"\n"):
    d = c.recv(65536)
    if not d:
        break
    buf += d
r, w, x = select.select([c], [], [], 0.3)
print("eof" if r and c.recv(1) == b"" else "open", flush=True)
with open(os.environ["NP_PY_FILE"], "rb") as f:
    c.sendall(f.read())
c.close()
'

# Read the request to EOF, print its sha256, send NP_PY_FILE and close.
PY_REQUEST_REPLY='
import hashlib, os
c, a = s.accept()
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
with open(os.environ["NP_PY_FILE"], "rb") as f:
    c.sendall(f.read())
c.close()
'

# Read to EOF, say so, answer "reply", then hold the connection open.
PY_EOF_HOLD='
import time
c, a = s.accept()
while c.recv(65536):
    pass
print("eof", flush=True)
c.sendall(b"reply\n")
time.sleep(30)
'

# Read to EOF, say so, wait for NP_PY_GO, then answer "late" and close.
PY_EOF_GO='
import os, time
c, a = s.accept()
while c.recv(65536):
    pass
print("eof", flush=True)
for i in range(500):
    if os.path.exists(os.environ["NP_PY_GO"]):
        break
    time.sleep(0.02)
c.sendall(b"late\n")
c.close()
'

# Send a line and half-close, then count what arrives until EOF.
PY_SEND_THEN_COUNT='
c, a = s.accept()
c.sendall(b"hello\n")
c.shutdown(socket.SHUT_WR)
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
print(n, flush=True)
c.close()
'

# Read 64 KiB at most, then close with the rest unread.
PY_SHORT_READ='
c, a = s.accept()
c.recv(65536)
c.close()
'

# Send a line and half-close, then read to EOF and print the sha256.
PY_HALF_CLOSE='
import hashlib
c, a = s.accept()
c.sendall(b"hi\n")
c.shutdown(socket.SHUT_WR)
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
c.close()
'

# Send until the peer goes away.
PY_FLOOD='
c, a = s.accept()
chunk = bytes(range(256)) * 4096
try:
    for i in range(4096):
        c.sendall(chunk)
except OSError:
    pass
c.close()
'

# Wait for one byte, then close with SO_LINGER 0: the peer gets a reset.
PY_RESET='
import struct
c, a = s.accept()
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset", flush=True)
'

# Read 64 KiB, then reset the connection with the rest unread.
PY_READ_RESET='
import struct
c, a = s.accept()
c.recv(65536)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
'

# Accept, say so, and hold the connection open.
PY_ACCEPT_HOLD='
import time
c, a = s.accept()
print("accepted", flush=True)
time.sleep(30)
'

# Accept and say so, read nothing until NP_PY_GO appears, then read to
# EOF and print the sha256.
PY_SLOW_READER='
import hashlib, os, time
c, a = s.accept()
print("accepted", flush=True)
for i in range(1000):
    if os.path.exists(os.environ["NP_PY_GO"]):
        break
    time.sleep(0.02)
h = hashlib.sha256()
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
c.close()
'

# Send "hello\n"; once NP_PY_GO appears (when it is set), send 100 bytes
# more; all the while read to EOF, then print the sha256 of what came.
PY_GREET_READ='
import hashlib, os, threading, time
c, a = s.accept()
c.sendall(b"hello\n")
def late():
    go = os.environ.get("NP_PY_GO")
    if not go:
        return
    for i in range(1500):
        if os.path.exists(go):
            break
        time.sleep(0.02)
    c.sendall(bytes(range(100)))
threading.Thread(target=late, daemon=True).start()
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
'

# Send 100 bytes and hold the connection open.
PY_SEND_100_HOLD='
import time
c, a = s.accept()
c.sendall(bytes(range(100)))
time.sleep(30)
'

# Read nothing: once what is queued here has stopped growing for 0.3 s (the
# client is blocked with input unsent), half-close; wait for NP_PY_GO, then
# read to EOF and print how many bytes came.
PY_SHUT_THEN_COUNT='
import fcntl, os, struct, termios, time
c, a = s.accept()
last, same = -1, 0
for i in range(500):
    q = struct.unpack("i", fcntl.ioctl(c, termios.FIONREAD, b"1234"))[0]
    same = same + 1 if q == last and q > 0 else 0
    last = q
    if same >= 15:
        break
    time.sleep(0.02)
c.shutdown(socket.SHUT_WR)
for i in range(1500):
    if os.path.exists(os.environ["NP_PY_GO"]):
        break
    time.sleep(0.02)
n = 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    n += len(d)
print(n, flush=True)
'

# eof_reader_leaves NAME MODE: netpipe --io MODE to $PY_PORT with stdin a
# held fifo (np_fifo_held NAME) and stdout a fifo that `head -n 1` reads
# one line from and leaves; wait until it has left.  Sets EOF_PID.
eof_reader_leaves() {
	local out=$BATS_TEST_TMPDIR/$1.out line=$BATS_TEST_TMPDIR/$1.line hpid
	np_fifo_held "$1.in"
	mkfifo "$out"
	head -n 1 <"$out" >"$line" 3>&- &
	hpid=$!
	np_track "$hpid"
	"${NP[@]}" --io "$2" 127.0.0.1 "$PY_PORT" <"$FIFO" >"$out" \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	EOF_PID=$!
	np_track "$EOF_PID"
	np_wait_exit "$hpid"
	assert_equal "$(cat "$line")" hello
}

# eof_reader_left_clean MODE: the reader of stdout leaves with nothing
# pending; the input still goes out in full, and input EOF ends it, exit 0.
eof_reader_left_clean() {
	local in
	in=$(np_random_file in 4M)
	np_python_listen STREAM "$PY_GREET_READ"
	eof_reader_leaves r "$1"
	# dd opens the fifo itself, so that timeout bounds the open too.
	timeout 10 dd if="$in" of="$FIFO" bs=1M status=none
	kill "$HOLDER_PID"
	np_status "$EOF_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" ""
	assert_equal "$NP_STATUS" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}

# eof_reader_left_late MODE: 100 bytes arrive after the reader of stdout
# left: exit 1, saying that those 100 were not delivered.
eof_reader_left_late() {
	local go=$BATS_TEST_TMPDIR/go
	NP_PY_GO=$go np_python_listen STREAM "$PY_GREET_READ"
	eof_reader_leaves r "$1"
	touch "$go"
	np_status "$EOF_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: stdout: Broken pipe: 100 bytes received not delivered"
	assert_equal "$NP_STATUS" 1
}

# eof_unsent ARGS...: netpipe ARGS (stdin and the rest given by the
# caller through EOF_IN) meets a peer that half-closes at once and reads
# nothing yet: exit 1 with the count of bytes not sent, which with what
# the peer then reads makes the whole input (EOF_EXACT=1) or less.
eof_unsent() {
	local go=$BATS_TEST_TMPDIR/go size n
	size=$(stat -c %s "$EOF_FILE")
	NP_PY_GO=$go np_python_listen STREAM "$PY_SHUT_THEN_COUNT"
	np_io "$EOF_IN" /dev/null "$@" 127.0.0.1 "$PY_PORT"
	touch "$go"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ peer\ closed\ the\ connection:\ ([0-9]+)\ bytes\ of\ input\ not\ sent$ ]] ||
	    fail "unexpected message: $NP_STDERR"
	n=${BASH_REMATCH[1]}
	((n > 0))
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+$'
	if [ "${EOF_EXACT:-1}" = 1 ]; then
		assert_equal "$(($(cat "$BATS_TEST_TMPDIR/py.out") + n))" "$size"
	else
		(($(cat "$BATS_TEST_TMPDIR/py.out") + n <= size))
	fi
}

@test "input EOF without -N keeps reading the socket until the peer closes" {
	local reply out=$BATS_TEST_TMPDIR/got
	reply=$(np_random_file reply 1M)
	NP_PY_FILE=$reply np_python_listen STREAM "$PY_NO_SHUTDOWN"
	np_io <(echo ping) "$out" 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" open
	assert_equal "$(np_sha "$out")" "$(np_sha "$reply")"
}

@test "-N half-closes and still reads the whole reply" {
	local in reply out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	reply=$(np_random_file reply 1M)
	NP_PY_FILE=$reply np_python_listen STREAM "$PY_REQUEST_REPLY"
	np_io "$in" "$out" -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
	assert_equal "$(np_sha "$out")" "$(np_sha "$reply")"
}

@test "-N from a pipe half-closes and still reads the whole reply" {
	local in reply out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	reply=$(np_random_file reply 1M)
	NP_PY_FILE=$reply np_python_listen STREAM "$PY_REQUEST_REPLY"
	np_io <(cat "$in") "$out" -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
	assert_equal "$(np_sha "$out")" "$(np_sha "$reply")"
}

@test "-q 0 quits as soon as input is sent although the peer stays open" {
	np_skip_timing_if_wrapped
	local t0 t1
	np_python_listen STREAM "$PY_EOF_HOLD"
	t0=$(np_now)
	np_io <(echo request) /dev/null -q 0 127.0.0.1 "$PY_PORT"
	t1=$(np_now)
	assert_equal "$NP_RC" 0
	((t1 - t0 < 3000))
	# -q implies -N: the server saw the half-close.
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^eof$'
}

@test "-q 1 reads the reply, then quits one second after input EOF" {
	local t0 t1 out=$BATS_TEST_TMPDIR/got
	np_python_listen STREAM "$PY_EOF_HOLD"
	t0=$(np_now)
	np_io <(echo request) "$out" -q 1 127.0.0.1 "$PY_PORT"
	t1=$(np_now)
	assert_equal "$NP_RC" 0
	assert_equal "$(cat "$out")" reply
	((t1 - t0 >= 900 && t1 - t0 < 5000))
}

@test "-q -1 half-closes and waits for the peer to close" {
	local out=$BATS_TEST_TMPDIR/got go=$BATS_TEST_TMPDIR/go pid i
	NP_PY_GO=$go np_python_listen STREAM "$PY_EOF_GO"
	timeout 10 "${NP[@]}" -q -1 127.0.0.1 "$PY_PORT" < <(echo request) \
	    >"$out" 2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^eof$'
	# Still waiting for the peer half a second later.
	np_alive_for "$pid" 500
	touch "$go"
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" late
}

@test "-d never reads stdin" {
	local in out=$BATS_TEST_TMPDIR/got rest=$BATS_TEST_TMPDIR/rest
	in=$(np_random_file in 1M)
	np_python_listen STREAM "$PY_SEND_THEN_COUNT"
	{
		timeout 10 "${NP[@]}" -d 127.0.0.1 "$PY_PORT" >"$out"
		cat >"$rest"
	} <"$in"
	assert_equal "$(cat "$out")" hello
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" 0
	# Nothing was consumed from the shared file offset.
	assert_equal "$(np_sha "$rest")" "$(np_sha "$in")"
}

@test "a peer that closes while the client still sends from a pipe ends it promptly" {
	local in t0 t1
	in=$(np_random_file in 16M)
	np_python_listen STREAM "$PY_SHORT_READ"
	t0=$(np_now)
	np_io <(cat "$in") /dev/null 127.0.0.1 "$PY_PORT"
	t1=$(np_now)
	((t1 - t0 < 5000))
	if ((NP_RC == 1)); then
		[[ $NP_STDERR =~ ^netpipe:\ (send|recv):\ (Connection\ reset\ by\ peer|Broken\ pipe)$ ]]
	else
		assert_equal "$NP_RC" 0
	fi
}

@test "a peer that closes while the client still sends a regular file ends it promptly, exit 1" {
	local in t0 t1
	in=$(np_random_file in 16M)
	np_python_listen STREAM "$PY_SHORT_READ"
	t0=$(np_now)
	np_io "$in" /dev/null 127.0.0.1 "$PY_PORT"
	t1=$(np_now)
	((t1 - t0 < 5000))
	assert_equal "$NP_RC" 1
	# A reset, or the peer's FIN met before it (with the count).
	[[ $NP_STDERR =~ ^netpipe:\ (send|sendfile|recv):\ (Connection\ reset\ by\ peer|Broken\ pipe)$ ||
	    $NP_STDERR =~ ^netpipe:\ peer\ closed\ the\ connection:\ [1-9][0-9]*\ bytes\ of\ input\ not\ sent$ ]] ||
	    fail "stderr: $NP_STDERR"
}

@test "peer EOF flushes everything received and exits 0 while stdin stays open" {
	local data out=$BATS_TEST_TMPDIR/got
	data=$(np_random_file data 4M)
	np_fifo_held in.fifo
	NP_PY_FILE=$data np_python_listen STREAM "$PY_SEND_FILE"
	np_io "$FIFO" "$out" 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(np_sha "$out")" "$(np_sha "$data")"
	kill -0 "$HOLDER_PID"
}

@test "an nc.openbsd listener's EOF ends the client while stdin stays open" {
	local data out=$BATS_TEST_TMPDIR/got
	data=$(np_random_file data 4M)
	np_fifo_held in.fifo
	NC_IN=$data np_nc_listen -N -n 127.0.0.1 0
	np_io "$FIFO" "$out" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$data")"
	np_status "$NC_PID"
}

@test "--half-close keeps sending input after the peer's EOF" {
	local in out=$BATS_TEST_TMPDIR/got pid
	in=$(np_random_file in 4M)
	np_fifo_held in.fifo
	np_python_listen STREAM "$PY_HALF_CLOSE"
	"${NP[@]}" --half-close 127.0.0.1 "$PY_PORT" <"$FIFO" \
	    >"$out" 2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	# The peer has sent its line and its EOF; netpipe must stay, and
	# wait for input without spinning on the socket's EOF.
	np_wait_for "$out" '^hi$'
	np_assert_idle "$pid"
	timeout 10 cat "$in" >"$FIFO"
	kill "$HOLDER_PID"
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}

@test "after input EOF from a pipe a client waits for the peer without spinning" {
	local pid
	np_python_listen STREAM "$PY_ACCEPT_HOLD"
	"${NP[@]}" 127.0.0.1 "$PY_PORT" < <(echo ping) >/dev/null \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^accepted$'
	np_assert_idle "$pid"
	kill -TERM "$pid"
	np_status "$pid"
	assert_equal "$NP_STATUS" 143
}

@test "stdout closed early with bytes pending exits promptly, exit 1, saying how many were not delivered" {
	local err=$BATS_TEST_TMPDIR/np.err
	np_python_listen STREAM "$PY_FLOOD"
	run -0 timeout 10 bash -c '
		"$@" </dev/null 2>"'"$err"'" | head -c 10 >/dev/null
		echo "${PIPESTATUS[0]}"' _ "${NP[@]}" 127.0.0.1 "$PY_PORT"
	assert_output 1
	run cat "$err"
	assert_output --regexp '^netpipe: stdout: Broken pipe: [1-9][0-9]* bytes received not delivered$'
}

@test "netpipe | head -c 100 ends promptly with exit 0 when those 100 bytes were all" {
	local err=$BATS_TEST_TMPDIR/np.err
	np_python_listen STREAM "$PY_SEND_100_HOLD"
	run -0 timeout 10 bash -c '
		"$@" </dev/null 2>"'"$err"'" | head -c 100 | wc -c
		echo "${PIPESTATUS[0]}"' _ "${NP[@]}" 127.0.0.1 "$PY_PORT"
	assert_equal "${lines[0]}" 100
	assert_equal "${lines[1]}" 0
	assert_equal "$(cat "$err")" ""
}

# eof_reader_left_unread MODE: the peer sends 100 bytes and holds; the
# reader of stdout takes 10 of them from the pipe and leaves while
# netpipe holds nothing more: the 90 left in the pipe were not delivered.
eof_reader_left_unread() {
	local err=$BATS_TEST_TMPDIR/np.err
	np_python_listen STREAM "$PY_SEND_100_HOLD"
	run -0 timeout 10 bash -c '
		"$@" </dev/null 2>"'"$err"'" | head -c 10 | wc -c
		echo "${PIPESTATUS[0]}"' _ "${NP[@]}" --io "$1" 127.0.0.1 "$PY_PORT"
	assert_equal "${lines[0]}" 10
	assert_equal "${lines[1]}" 1
	assert_equal "$(cat "$err")" \
	    "netpipe: stdout: Broken pipe: 90 bytes received not delivered"
}

@test "bytes the reader of stdout left unread in the pipe count as not delivered, exit 1 (splice to a pipe)" {
	eof_reader_left_unread auto
}

@test "bytes the reader of stdout left unread in the pipe count as not delivered, exit 1 (--io rw)" {
	eof_reader_left_unread rw
}

@test "the reader of stdout leaving with nothing pending is no failure: input still goes out, exit 0 (splice to a pipe)" {
	eof_reader_left_clean auto
}

@test "the reader of stdout leaving with nothing pending is no failure: input still goes out, exit 0 (--io rw)" {
	eof_reader_left_clean rw
}

@test "the reader of stdout leaving with nothing pending is no failure: input still goes out, exit 0 (--io send)" {
	eof_reader_left_clean send
}

@test "bytes that arrive after the reader of stdout left: exit 1 with their count (splice to a pipe)" {
	eof_reader_left_late auto
}

@test "bytes that arrive after the reader of stdout left: exit 1 with their count (--io rw)" {
	eof_reader_left_late rw
}

@test "bytes that arrive after the reader of stdout left: exit 1 with their count (--io send)" {
	eof_reader_left_late send
}

@test "a peer that ends the connection before a regular-file stdin was sent: exit 1 with the bytes not sent (sendfile)" {
	EOF_FILE=$(np_random_file in 16M)
	EOF_IN=$EOF_FILE eof_unsent
}

@test "a peer that ends the connection before a regular-file stdin was sent: exit 1 with the bytes not sent (--io rw)" {
	EOF_FILE=$(np_random_file in 16M)
	EOF_IN=$EOF_FILE eof_unsent --io rw
}

@test "a peer that ends the connection before --send-file was sent: exit 1 with the bytes not sent" {
	EOF_FILE=$(np_random_file in 16M)
	EOF_IN=/dev/null eof_unsent --send-file "$EOF_FILE"
}

@test "with -N, a peer that ends the connection before a pipe's input was sent: exit 1 with the bytes not sent" {
	EOF_FILE=$(np_random_file in 16M)
	EOF_IN=<(cat "$EOF_FILE") EOF_EXACT=0 eof_unsent -N
}

@test "a peer reset while the client sends from a pipe exits 1 with a message" {
	local in
	in=$(np_random_file in 16M)
	np_python_listen STREAM "$PY_READ_RESET"
	np_io <(cat "$in") /dev/null 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ (send|recv):\ Connection\ reset\ by\ peer$ ]]
}

@test "a full stdout exits 1 with stdout: No space left on device" {
	local data
	data=$(np_random_file data 1M)
	NP_PY_FILE=$data np_python_listen STREAM "$PY_SEND_FILE"
	np_io /dev/null /dev/full 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: stdout: No space left on device"
}

@test "a peer reset exits 1 with Connection reset by peer" {
	np_python_listen STREAM "$PY_RESET"
	np_io <(printf x) /dev/null 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: recv: Connection reset by peer"
}

@test "SIGINT ends a connected client with exit 130" {
	local pid
	np_fifo_held in.fifo
	np_python_listen STREAM "$PY_ACCEPT_HOLD"
	"${NP_SIGDFL[@]}" "${NP[@]}" 127.0.0.1 "$PY_PORT" <"$FIFO" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^accepted$'
	kill -INT "$pid"
	np_status "$pid"
	assert_equal "$NP_STATUS" 130
}

@test "SIGTERM ends a connected client with exit 143" {
	local pid
	np_fifo_held in.fifo
	np_python_listen STREAM "$PY_ACCEPT_HOLD"
	"${NP[@]}" 127.0.0.1 "$PY_PORT" <"$FIFO" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^accepted$'
	kill -TERM "$pid"
	np_status "$pid"
	assert_equal "$NP_STATUS" 143
}

@test "a slow reader makes netpipe wait with flat memory, then all 64 MiB arrive" {
	local in go=$BATS_TEST_TMPDIR/go pid rchar rss rss0
	in=$(np_random_file in 64M)
	NP_PY_GO=$go np_python_listen STREAM "$PY_SLOW_READER"
	"${NP[@]}" -N 127.0.0.1 "$PY_PORT" < <(cat "$in") \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^accepted$'
	rss0=$(np_rss_kb "$pid")
	# Wait until netpipe stops reading its input: the socket is full.
	np_wait_stalled np_rchar "$pid"
	rchar=$NP_STALLED
	rss=$(np_rss_kb "$pid")
	echo "rchar $rchar rss0 ${rss0}k rss ${rss}k" >&2
	# It stopped well before reading all 64 MiB ...
	((rchar < 32 * 1024 * 1024))
	# ... and holds no more than a few buffers.
	((rss - rss0 < 16 * 1024))
	if [[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]; then
		((rss < 16 * 1024))
	fi
	touch "$go"
	np_status "$pid" 20
	assert_equal "$NP_STATUS" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$(sed -n 2p "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}
