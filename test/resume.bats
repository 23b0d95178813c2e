#!/usr/bin/env bats
# --retry, --retry-delay, --resume and --resume-buffer (issue 16): connects
# tried again with back-off, and transfers that survive broken connections,
# resume files and pipes, and are verified end to end by SHA-256.

load helpers

RELAY=$BATS_TEST_DIRNAME/cutrelay.py
# The cut tests move 256 MiB within 60 s; under valgrind, which runs
# netpipe some 30 times slower, 32 MiB within 150 s (make valgrind gives
# a test 180), still larger than any buffer.
BIG=$((256 * 1024 * 1024)) BIG_SECS=60
[ -z "${NETPIPE_WRAP:-}" ] || BIG=$((32 * 1024 * 1024)) BIG_SECS=150
# The -w a test gives: any silence that long is one more reconnect, and
# valgrind on a loaded machine can stall a peer for over a second.
IDLE=1
[ -z "${NETPIPE_WRAP:-}" ] || IDLE=5

# rs_relay SIZE CUTS MODE SEED: start test/cutrelay.py in front of the
# listener on NP_PORT; sets RELAY_PID and RELAY_PORT.
rs_relay() {
	local pf=$BATS_TEST_TMPDIR/relay.port
	python3 "$RELAY" "$pf" "$NP_PORT" "$1" "$2" "$3" "$4" \
	    "$BATS_TEST_TMPDIR/relay.count" 3>&- &
	RELAY_PID=$!
	np_track "$RELAY_PID"
	np_wait_for "$pf" '^[0-9]+$' || return 1
	RELAY_PORT=$(cat "$pf")
}

# The bytes the relay took from the sender, once it has been stopped.
rs_relay_count() {
	kill -TERM "$RELAY_PID"
	np_wait_for "$BATS_TEST_TMPDIR/relay.count" '^[0-9]+$' >/dev/null
	cat "$BATS_TEST_TMPDIR/relay.count"
}

# rs_receiver NAME ARGS...: a --resume receiver on a Unix socket (its path
# stays the same across restarts), stderr to NAME.err; sets RX_PID.
rs_receiver() {
	local name=$1
	shift
	: >"$BATS_TEST_TMPDIR/$name.err"
	"${NP[@]}" -v -l --resume -U "$BATS_TEST_TMPDIR/sock" "$@" \
	    2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	RX_PID=$!
	np_track "$RX_PID"
	np_wait_for "$BATS_TEST_TMPDIR/$name.err" '^Listening on '
}

# rs_killed_sender ARGS...: a --resume sender (with ARGS) of
# $BATS_TEST_TMPDIR/a, whose input then waits for "go"; it is killed once
# the receiver's got holds those 4 MiB and the receiver has seen it go,
# and "go" is touched.
rs_killed_sender() {
	rs_two_parts "$BATS_TEST_TMPDIR/a" /dev/null | "${NP[@]}" --resume \
	    "$@" -U "$BATS_TEST_TMPDIR/sock" 2>/dev/null 3>&- &
	local tx=$!
	np_track "$tx"
	np_until 20 np_size_at_least "$BATS_TEST_TMPDIR/got" \
	    $((4 * 1024 * 1024)) || return 1
	kill -KILL "$tx"
	np_wait_exit "$tx"
	# Else the next sender may come while the receiver still serves the
	# killed one's connection, and be told the receiver is busy.
	np_wait_for "$BATS_TEST_TMPDIR/rx.err" 'waiting for the sender$' ||
	    return 1
	touch "$BATS_TEST_TMPDIR/go"
}

# The first receiver's -v count of bytes written, from its --stats line,
# is not there until it ends: count what its stdout pipe took instead.
np_rx_wrote() {
	[ -f "$BATS_TEST_TMPDIR/rx1.bytes" ] &&
	    (($(stat -c %s "$BATS_TEST_TMPDIR/rx1.bytes") >= $1))
}

# A sender's input that stops after its first part and goes on only once
# the file "go" exists: the test can break things in the pause.
rs_two_parts() {
	cat "$1"
	np_until 30 test -e "$BATS_TEST_TMPDIR/go" || return 1
	cat "$2"
}

@test "--retry reaches a listener that starts two seconds after the client" {
	local in pf=$BATS_TEST_TMPDIR/late.port
	in=$(np_random_file in 3M)
	# Bound but not yet listening: connects are refused until "go".
	python3 -c "
import hashlib, os, socket, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
open('$pf.tmp', 'w').write(str(s.getsockname()[1]))
os.rename('$pf.tmp', '$pf')
while not os.path.exists('$BATS_TEST_TMPDIR/go'):
    time.sleep(0.02)
s.listen(1)
c, _ = s.accept()
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
" >"$BATS_TEST_TMPDIR/late.out" 3>&- &
	np_track $!
	np_wait_for "$pf" '^[0-9]+$'
	timeout $((20 * NP_SLOW)) \
	    "${NP[@]}" -v -N --retry 10 127.0.0.1 "$(cat "$pf")" \
	    <"$in" 2>"$BATS_TEST_TMPDIR/client.err" 3>&- &
	local cpid=$!
	np_track "$cpid"
	# 0.1 + 0.2 + 0.4 + 0.8 s of back-off: more than 1.5 s late.
	np_wait_for "$BATS_TEST_TMPDIR/client.err" '^netpipe: retrying in' 10 5
	touch "$BATS_TEST_TMPDIR/go"
	wait "$cpid"
	np_wait_for "$BATS_TEST_TMPDIR/late.out" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/late.out")" "$(np_sha "$in")"
	run grep -c 'succeeded!' "$BATS_TEST_TMPDIR/client.err"
	assert_output 1
}

@test "--retry gives up after N refused connects, and the back-off stops at --retry-delay" {
	np_closed_port
	run -1 timeout $((20 * NP_SLOW)) "${NP[@]}" -v --retry 5 \
	    --retry-delay 0.3 127.0.0.1 "$CLOSED_PORT"
	assert_equal "$(grep -c '^netpipe: retrying in' <<<"$output")" 5
	assert_equal "$(grep -o 'retrying in [0-9.]* s' <<<"$output" |
	    awk '{print $3}' | paste -sd' ')" "0.1 0.2 0.3 0.3 0.3"
	assert_line --partial -- 'giving up after 5 retries'
	assert_line --partial -- 'Connection refused'
}

@test "--retry without -v says nothing until it gives up; a usage error is never retried" {
	np_closed_port
	run -1 timeout $((10 * NP_SLOW)) "${NP[@]}" --retry 2 \
	    --retry-delay 100ms 127.0.0.1 "$CLOSED_PORT"
	refute_line --partial 'retrying'
	assert_line --partial 'giving up after 2 retries'
	run -2 "${NP[@]}" -l --retry 2 127.0.0.1 0
	assert_line --partial -- '--retry and -l cannot be used together'
	run -2 "${NP[@]}" --retry-delay 1 127.0.0.1 9
	assert_line --partial -- '--retry-delay requires --retry or --resume'
	run -2 "${NP[@]}" --resume-buffer 1M 127.0.0.1 9
	assert_line --partial -- '--resume-buffer requires --resume'
	run -2 "${NP[@]}" --resume --resume-buffer 1K \
	    127.0.0.1 9
	assert_line --partial -- 'too small'
	run -2 "${NP[@]}" --retry x1 127.0.0.1 9
	assert_line --partial -- '--retry: "x1" is invalid'
	run -2 "${NP[@]}" -l --resume --send-file /dev/null 127.0.0.1 0
	assert_line --partial -- '--resume: a listener receives'
	run -2 "${NP[@]}" --resume --output /dev/null 127.0.0.1 9
	assert_line --partial -- '--resume: a client sends'
	run -2 "${NP[@]}" --resume -u 127.0.0.1 9
	assert_line --partial -- '--resume and -u cannot be used together'
}

@test "a 256 MiB file survives 10 resets at random offsets, resends under 10% and both ends verify" {
	local in size=$BIG
	in=$(np_random_file in $size)
	np_listen --resume --stats --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	rs_relay $size 10 reset 16
	run -0 timeout "$BIG_SECS" "${NP[@]}" -v --resume --stats \
	    -w $((2 * IDLE)) --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_line --partial '; 10 reconnects,'
	assert_line "netpipe: sha256 $(np_sha "$in") (verified by the receiver)"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '10 reconnects'
	grep -q "sha256 $(np_sha "$in") (verified)" \
	    "$BATS_TEST_TMPDIR/listen.err"
	local count
	count=$(rs_relay_count)
	echo "relay took $count bytes for $size" >&2
	# What a cut costs is what was in flight, a few MiB whatever the size:
	# the 10% bound is for 256 MiB, not for valgrind's 32.
	[ "$size" -lt $((256 * 1024 * 1024)) ] || ((count < size * 11 / 10))
}

@test "a 256 MiB pipe survives resets and silent drops (-w) and both ends verify" {
	local in size=$BIG
	in=$(np_random_file in $size)
	np_listen --resume --stats 127.0.0.1 0
	rs_relay $size 4 mixed 5
	run -0 timeout "$BIG_SECS" bash -c \
	    'cat "$1" | "${@:2}"' _ "$in" "${NP[@]}" --resume --stats \
	    -w "$IDLE" 127.0.0.1 "$RELAY_PORT"
	assert_line --partial '; 4 reconnects,'
	assert_line --partial "no progress in $IDLE s (-w)"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

@test "a receiver killed with SIGKILL and restarted on the same --output completes and verifies" {
	local a b all
	a=$(np_random_file a 6M)
	b=$(np_random_file b 5M)
	cat "$a" "$b" >"$BATS_TEST_TMPDIR/all"
	all=$BATS_TEST_TMPDIR/all
	rs_receiver rx1 --output "$BATS_TEST_TMPDIR/got"
	rs_two_parts "$a" "$b" | timeout $((60 * NP_SLOW)) \
	    "${NP[@]}" -v --resume --stats \
	    -U "$BATS_TEST_TMPDIR/sock" 2>"$BATS_TEST_TMPDIR/tx.err" 3>&- &
	local tx=$!
	np_track "$tx"
	np_until 20 np_size_at_least "$BATS_TEST_TMPDIR/got" $((6 * 1024 * 1024))
	kill -KILL "$RX_PID"
	np_wait_exit "$RX_PID"
	rs_receiver rx2 --output "$BATS_TEST_TMPDIR/got"
	touch "$BATS_TEST_TMPDIR/go"
	wait "$tx"
	np_wait_exit "$RX_PID"
	wait "$RX_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$all")"
	grep -q 'holds 6291456 bytes; resuming there' "$BATS_TEST_TMPDIR/rx2.err"
	grep -q "sha256 $(np_sha "$all") (verified)" "$BATS_TEST_TMPDIR/rx2.err"
}

@test "a sender killed and restarted with the same file continues where the receiver is" {
	local a all
	all=$(np_random_file all 9M)
	head -c 4M "$all" >"$BATS_TEST_TMPDIR/a"
	rs_receiver rx --output "$BATS_TEST_TMPDIR/got"
	rs_killed_sender
	run -0 timeout $((30 * NP_SLOW)) "${NP[@]}" -v --resume \
	    --send-file "$all" -U "$BATS_TEST_TMPDIR/sock"
	assert_line --partial 'the receiver holds 4194304 bytes; resuming there'
	np_wait_exit "$RX_PID"
	wait "$RX_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$all")"
}

@test "a sender restarted with a changed file is caught: both ends exit 1" {
	local all
	all=$(np_random_file all 6M)
	head -c 4M "$all" >"$BATS_TEST_TMPDIR/a"
	rs_receiver rx --output "$BATS_TEST_TMPDIR/got"
	rs_killed_sender
	# The file changed at its start between the two runs.
	printf 'changed' | dd of="$all" bs=1 seek=1000 conv=notrunc 2>/dev/null
	run -1 timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume --send-file "$all" \
	    -U "$BATS_TEST_TMPDIR/sock"
	assert_output --partial "the receiver's first 4194304 bytes are not this stream's"
	np_wait_exit "$RX_PID"
	local rc=0
	wait "$RX_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q "peer: the receiver's first 4194304 bytes are not" \
	    "$BATS_TEST_TMPDIR/rx.err"
}

@test "a pipe replay that needs more than --resume-buffer holds exits 1 on both with the reason" {
	local a
	a=$(np_random_file a 8M)
	rs_receiver rx1 >"$BATS_TEST_TMPDIR/rx1.bytes"
	rs_two_parts "$a" /dev/null | timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume \
	    --resume-buffer 1M -U "$BATS_TEST_TMPDIR/sock" \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/tx.err" 3>&- &
	local tx=$!
	np_track "$tx"
	np_wait_for "$BATS_TEST_TMPDIR/rx1.err" '^Connection received'
	# Everything was written to a stdout that is gone with the receiver:
	# the new one holds nothing, and the sender kept only the last 1 MiB.
	np_until 20 np_rx_wrote 8388608
	kill -KILL "$RX_PID"
	np_wait_exit "$RX_PID"
	rs_receiver rx2 >/dev/null
	np_wait_exit "$tx" 20
	# wait on the pipeline's last PID waits for all of it: let its first
	# part end now, not after its 30 s (and more under load) of polling.
	touch "$BATS_TEST_TMPDIR/go"
	local rc=0
	wait "$tx" || rc=$?
	assert_equal "$rc" 1
	grep -q 'cannot replay from byte 0: the --resume-buffer of 1048576 bytes holds only bytes from' \
	    "$BATS_TEST_TMPDIR/tx.err"
	np_wait_exit "$RX_PID"
	rc=0
	wait "$RX_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q 'peer: cannot replay from byte 0' "$BATS_TEST_TMPDIR/rx2.err"
}

@test "a --resume sender facing nc.openbsd, or plain netpipe, says the peer does not speak the protocol" {
	np_nc_listen 127.0.0.1 0
	run -1 timeout $((10 * NP_SLOW)) \
	    "${NP[@]}" --resume -w 1 127.0.0.1 "$NC_PORT" \
	    </dev/null
	assert_output --partial 'peer does not speak the resume protocol'
	np_listen 127.0.0.1 0
	run -1 timeout $((10 * NP_SLOW)) \
	    "${NP[@]}" --resume -w 1 127.0.0.1 "$NP_PORT" \
	    </dev/null
	assert_output --partial 'peer does not speak the resume protocol'
}

@test "a --resume receiver facing nc.openbsd or plain netpipe says so and writes nothing" {
	local in
	in=$(np_random_file in 300K)
	np_listen --resume --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	timeout $((10 * NP_SLOW)) \
	    nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in" || true
	np_wait_exit "$NP_PID"
	local rc=0
	wait "$NP_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q '^netpipe: peer does not speak the resume protocol$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/got")" 0
	np_listen --resume 127.0.0.1 0
	timeout $((10 * NP_SLOW)) \
	    "${NP[@]}" -N 127.0.0.1 "$NP_PORT" <"$in" || true
	np_wait_exit "$NP_PID"
	rc=0
	wait "$NP_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q 'peer does not speak the resume protocol' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/out")" 0
}

# rs_tls_receiver: a --resume --tls receiver into got, with tls_pki's
# kind of certificate made for this test alone (in $TLS_DIR): tests of a
# file run in parallel, and one file-wide PKI made by each would race.
rs_tls_receiver() {
	export TLS_DIR=$BATS_TEST_TMPDIR/pki
	mkdir -p "$TLS_DIR"
	(cd "$TLS_DIR" && tls_make_pki)
	np_listen --resume --tls --tls-cert "$TLS_DIR/server.pem" \
	    --tls-key "$TLS_DIR/server.key" --output "$BATS_TEST_TMPDIR/got" \
	    127.0.0.1 0
}

@test "--resume runs inside --tls" {
	local in
	in=$(np_random_file in 5M)
	rs_tls_receiver
	run -0 timeout $((30 * NP_SLOW)) "${NP[@]}" -v --resume --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-name localhost 127.0.0.1 "$NP_PORT" \
	    <"$in"
	assert_line "netpipe: sha256 $(np_sha "$in") (verified by the receiver)"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
}

@test "--resume over --tls ends each side's connection with close_notify, seen by a python3 ssl relay" {
	local in pf=$BATS_TEST_TMPDIR/relay.port
	local relay=$BATS_TEST_TMPDIR/relay.out
	in=$(np_random_file in 5M)
	rs_tls_receiver
	# The relay is the sender's TLS server and the receiver's TLS client,
	# and passes each end on as it came.
	timeout $((30 * NP_SLOW)) \
	    python3 "$BATS_TEST_DIRNAME/tls_relay.py" "$pf" "$NP_PORT" \
	    "$TLS_DIR/server.pem" "$TLS_DIR/server.key" "$TLS_DIR/ca.pem" \
	    >"$relay" 2>"$BATS_TEST_TMPDIR/relay.err" 3>&- &
	RELAY_PID=$!
	np_track "$RELAY_PID"
	np_wait_for "$pf" '^[0-9]+$'
	run -0 --separate-stderr timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-name localhost 127.0.0.1 \
	    "$(cat "$pf")" <"$in"
	assert_equal "$stderr" ""
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	np_status "$RELAY_PID"
	assert_equal "$(cat "$relay")" "client: close_notify
server: close_notify"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
}

@test "--resume goes through a SOCKS5 proxy (-x), and --progress shows reconnects" {
	local in size=$((32 * 1024 * 1024))
	in=$(np_random_file in $size)
	np_listen --resume 127.0.0.1 0
	rs_relay $size 2 reset 9
	# The relay stands in for the far end; microsocks is the proxy.
	microsocks -i 127.0.0.1 -p 0 >/dev/null 2>&1 3>&- &
	local ms=$!
	np_track "$ms"
	np_until 10 np_ss_port "$ms"
	run -0 timeout $((60 * NP_SLOW)) \
	    "${NP[@]}" --resume --progress=always -x \
	    "127.0.0.1:$NP_SS_PORT" --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_output --partial ', 2 reconn.'
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

# A sender written from the man page's wire format: HELLO, data frames, END
# with the digest given in $2 ("right" or "wrong"); prints the DONE verdict.
PY_WIRE_SENDER='
import hashlib, os, socket, struct, sys
port, how, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"NPRSUM" + bytes([1, 0x03]) + os.urandom(16) +
    struct.pack(">Q", len(data)))
def recv(n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            sys.exit("eof")
        b += d
    return b
w = recv(64)
assert w[:6] == b"NPRSUM" and w[6] == 1 and w[7] == 0, w
assert struct.unpack(">Q", w[24:32])[0] == 0
assert w[32:] == hashlib.sha256(b"").digest()
for i in range(0, len(data), 70000):
    chunk = data[i:i + 70000]
    s.sendall(b"D\0\0\0" + struct.pack(">I", len(chunk)) + chunk)
digest = hashlib.sha256(data).digest()
if how == "wrong":
    digest = bytes(32)
s.sendall(b"E\0\0\0" + struct.pack(">I", 40) + struct.pack(">Q", len(data)) +
    digest)
while True:
    h = recv(8)
    p = recv(struct.unpack(">I", h[4:])[0])
    if h[:1] == b"F":
        print("verdict", p[0], p[1:].hex() == hashlib.sha256(data).hexdigest())
        break
'

@test "a sender written from the man page's wire format is received and verified, and a wrong digest is refused" {
	local in
	in=$(np_random_file in 1000000)
	np_listen --resume --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	run -0 timeout $((10 * NP_SLOW)) \
	    python3 -c "$PY_WIRE_SENDER" "$NP_PORT" right "$in"
	assert_output "verdict 0 True"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	rm "$BATS_TEST_TMPDIR/got"
	np_listen --resume --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	run -0 timeout $((10 * NP_SLOW)) \
	    python3 -c "$PY_WIRE_SENDER" "$NP_PORT" wrong "$in"
	assert_output "verdict 1 True"
	np_wait_exit "$NP_PID"
	local rc=0
	wait "$NP_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q '^netpipe: SHA-256 mismatch: received ' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--resume --retry 0 gives up at the first break, and the receiver's --accept-timeout ends its wait" {
	local in size=$((32 * 1024 * 1024))
	in=$(np_random_file in $size)
	# --accept-timeout bounds the wait for the first sender too.
	np_listen --resume --accept-timeout $((2 * NP_SLOW)) --stats=json \
	    127.0.0.1 0
	rs_relay $size 1 reset 4
	run -1 timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume --retry 0 --stats=json \
	    --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_line --regexp '^netpipe: connection broken at byte [0-9]+; giving up after 0 retries$'
	assert_line --regexp '"reconnects": 0, "resent": 0, "resumed": 0\}$'
	np_wait_exit "$NP_PID" $((10 * NP_SLOW))
	local rc=0
	wait "$NP_PID" || rc=$?
	assert_equal "$rc" 1
	grep -q '"reconnects": 0' "$BATS_TEST_TMPDIR/listen.err"
}

@test "a receiver refuses another session's sender while its own is up, and its own completes" {
	local a b
	a=$(np_random_file a 3M)
	b=$(np_random_file b 2M)
	cat "$a" "$b" >"$BATS_TEST_TMPDIR/all"
	rs_receiver rx --output "$BATS_TEST_TMPDIR/got"
	rs_two_parts "$a" "$b" | timeout $((30 * NP_SLOW)) "${NP[@]}" --resume \
	    -U "$BATS_TEST_TMPDIR/sock" 2>"$BATS_TEST_TMPDIR/tx.err" 3>&- &
	local tx=$!
	np_track "$tx"
	np_wait_size "$BATS_TEST_TMPDIR/got" $((3 * 1024 * 1024)) 20
	run -1 timeout $((20 * NP_SLOW)) "${NP[@]}" --resume --send-file "$b" \
	    -U "$BATS_TEST_TMPDIR/sock"
	assert_output --partial 'receiver is busy with another session'
	touch "$BATS_TEST_TMPDIR/go"
	wait "$tx"
	np_wait_exit "$RX_PID"
	wait "$RX_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/all")"
	grep -q 'refused a connection while the session' \
	    "$BATS_TEST_TMPDIR/rx.err"
}

@test "a verdict lost to two resets after END: the sender comes back for it, both ends exit 0" {
	local in
	in=$(np_random_file in 9M)
	np_listen --resume --stats --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	rs_relay 0 2 verdict-reset 0
	run -0 timeout $((30 * NP_SLOW)) "${NP[@]}" -v --resume --stats \
	    --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_line --partial '; 2 reconnects,'
	assert_line "netpipe: sha256 $(np_sha "$in") (verified by the receiver)"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	# It sees the reset, or the sender's new connection first.
	grep -Eq 'connection broken after the verdict; keeping the session|a new connection of the session takes the old' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_equal "$(grep -c "sha256 $(np_sha "$in") (verified)" \
	    "$BATS_TEST_TMPDIR/listen.err")" 1
}

@test "a verdict lost to a silent drop after END (-w): the sender reconnects and gets it, both exit 0" {
	local in
	in=$(np_random_file in 5M)
	# Without --accept-timeout the receiver keeps the session for 10 s,
	# and the sender's -w 5 (valgrind) takes up to 10 s to see the drop.
	np_listen --resume --accept-timeout 30 127.0.0.1 0
	rs_relay 0 1 verdict-drop 0
	run -0 timeout $((30 * NP_SLOW)) bash -c \
	    'cat "$1" | "${@:2}"' _ "$in" "${NP[@]}" -v --resume -w "$IDLE" \
	    127.0.0.1 "$RELAY_PORT"
	assert_line --partial "no progress in $IDLE s (-w)"
	assert_line "netpipe: sha256 $(np_sha "$in") (verified by the receiver)"
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
	grep -q 'a new connection of the session takes the old one' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "a verified receiver waits for a sender that lost the verdict only --accept-timeout long, and exits 0" {
	local in
	in=$(np_random_file in 3M)
	# --accept-timeout bounds the wait for the first sender too: 5 s
	# leaves room for a sender slow to start (valgrind on a loaded CI).
	np_listen --resume --accept-timeout 5 --output "$BATS_TEST_TMPDIR/got" \
	    127.0.0.1 0
	rs_relay 0 1 verdict-reset 0
	run -1 timeout $((30 * NP_SLOW)) "${NP[@]}" --resume --retry 0 \
	    --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_line --regexp '^netpipe: connection broken at byte [0-9]+; giving up after 0 retries$'
	np_wait_exit "$NP_PID" 20
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	grep -q 'the sender did not come back for the verdict' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--resume runs inside --passphrase: resets cut it 4 times, each connection shakes hands, both verify" {
	local in size=$((32 * 1024 * 1024))
	in=$(np_random_file in $size)
	export NETPIPE_PASSPHRASE='violet kettle 42'
	np_listen --resume --passphrase --output "$BATS_TEST_TMPDIR/got" \
	    127.0.0.1 0
	rs_relay $size 4 reset 11
	run -0 --separate-stderr timeout $((60 * NP_SLOW)) \
	    "${NP[@]}" -v --resume \
	    --passphrase --stats --send-file "$in" 127.0.0.1 "$RELAY_PORT"
	assert_equal "$(grep -c '^Passphrase: SPAKE2, ' <<<"$stderr")" 5
	[[ $stderr == *'; 4 reconnects,'* ]]
	[[ $stderr == *"sha256 $(np_sha "$in") (verified by the receiver)"* ]]
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	assert_equal "$(grep -c '^Passphrase: SPAKE2, ' \
	    "$BATS_TEST_TMPDIR/listen.err")" 5
}

@test "--resume --passphrase: a sender back with a wrong phrase is refused cleanly, the right one completes" {
	local all
	all=$(np_random_file all 9M)
	head -c 4M "$all" >"$BATS_TEST_TMPDIR/a"
	NETPIPE_PASSPHRASE='violet kettle 42' rs_receiver rx --passphrase \
	    --output "$BATS_TEST_TMPDIR/got"
	NETPIPE_PASSPHRASE='violet kettle 42' rs_killed_sender --passphrase
	NETPIPE_PASSPHRASE='violet kettle 43' run -1 --separate-stderr \
	    timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume --passphrase --send-file "$all" \
	    -U "$BATS_TEST_TMPDIR/sock"
	assert_equal "$stderr" 'netpipe: passphrase does not match'
	kill -0 "$RX_PID"
	NETPIPE_PASSPHRASE='violet kettle 42' run -0 timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" -v \
	    --resume --passphrase --send-file "$all" -U "$BATS_TEST_TMPDIR/sock"
	assert_line --partial 'the receiver holds 4194304 bytes; resuming there'
	np_wait_exit "$RX_PID"
	wait "$RX_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$all")"
	grep -qx 'netpipe: passphrase does not match' "$BATS_TEST_TMPDIR/rx.err"
}

@test "a peer that connects and says nothing costs the receiver no CPU, and the sender after it is served" {
	local in ticks
	in=$(np_random_file in 2M)
	np_listen --resume --output "$BATS_TEST_TMPDIR/got" 127.0.0.1 0
	# nc.openbsd connects and sends nothing while its stdin stays open.
	mkfifo "$BATS_TEST_TMPDIR/hold"
	nc.openbsd 127.0.0.1 "$NP_PORT" <"$BATS_TEST_TMPDIR/hold" >/dev/null &
	np_track $!
	exec 4>"$BATS_TEST_TMPDIR/hold"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received'
	# utime + stime, in clock ticks, from here on (start-up is not the
	# question, and costs valgrind much): a receiver spinning on its
	# 200 ms acknowledgement tick burns most of the next 1.5 s.
	ticks=$(awk '{ print $14 + $15 }' "/proc/$NP_PID/stat")
	np_alive_for "$NP_PID" 1500
	ticks=$(($(awk '{ print $14 + $15 }' "/proc/$NP_PID/stat") - ticks))
	echo "receiver CPU: $ticks ticks" >&2
	((ticks < 15))
	run -0 timeout $((30 * NP_SLOW)) \
	    "${NP[@]}" --resume --send-file "$in" 127.0.0.1 \
	    "$NP_PORT"
	exec 4>&-
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
}

# rs_small_bufs HOW ARGS...: 48 MiB (8 under valgrind, with 150 s: a
# loaded valgrind run took over 60 s for 16) through 4 KiB socket
# buffers, from a pipe or from --send-file (HOW), so that the sender is
# stuck inside its writes and the receiver's 200 ms acks come in the
# middle of one.  Such an ack counts bytes of that write, which the
# sender must take as sent, not as a protocol error (nor crash).
rs_small_bufs() {
	local how=$1 in size=$((48 * 1024 * 1024)) t=60
	shift
	if [ -n "${NETPIPE_WRAP:-}" ]; then
		size=$((8 * 1024 * 1024))
		t=150
	fi
	in=$(np_random_file in $size)
	np_listen --resume "$@" -I 4096 --output "$BATS_TEST_TMPDIR/got" \
	    127.0.0.1 0
	if [ "$how" = pipe ]; then
		run -0 --separate-stderr timeout "$t" "${NP[@]}" --resume "$@" \
		    -O 4096 127.0.0.1 "$NP_PORT" < <(cat "$in")
	else
		run -0 --separate-stderr timeout "$t" "${NP[@]}" --resume "$@" \
		    -O 4096 --send-file "$in" 127.0.0.1 "$NP_PORT"
	fi
	np_wait_exit "$NP_PID"
	wait "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
}

@test "--resume from a pipe through 4 KiB socket buffers: acks of a write still going on are no protocol error" {
	rs_small_bufs pipe
}

@test "--resume --passphrase from a file through 4 KiB socket buffers: acks of a record batch still going out are no protocol error" {
	NETPIPE_PASSPHRASE='violet kettle 42' rs_small_bufs file --passphrase
}
