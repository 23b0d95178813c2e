#!/usr/bin/env bats
# --passphrase with --forward (issue 17): a forwarder whose peers speak the
# passphrase protocol, one whose connections to DEST do
# (--forward-passphrase), and the two together as an encrypted tunnel for
# any TCP service.  Real services behind (python3 http.server, a python3
# backend that checks what it got), real clients in front (curl,
# nc.openbsd), a relay that tees the tunnel's bytes (test/pp_relay.py).

load helpers

PP_RELAY=$BATS_TEST_DIRNAME/pp_relay.py

setup() {
	export NETPIPE_PASSPHRASE='amber lantern 7'
}



# ppf_start NAME ARGS...: `netpipe -v -l 127.0.0.1 0 ARGS` with stderr in
# $BATS_TEST_TMPDIR/NAME.err; sets NAME_PID and NAME_PORT (eval'd).
ppf_start() {
	local name=$1
	shift
	NP_ERR=$BATS_TEST_TMPDIR/$name.err np_listen 127.0.0.1 0 "$@" ||
	    return 1
	eval "${name}_PID=\$NP_PID ${name}_PORT=\$NP_PORT"
}

# ppf_tunnel DESTPORT: the far end (peers speak the passphrase, DEST plain)
# and the near end (plain peers, the passphrase to the far end): FAR_PORT,
# NEAR_PORT.  With RELAY set, pp_relay.py sits between the two.
ppf_tunnel() {
	ppf_start FAR --passphrase --forward "127.0.0.1:$1"
	local to=$FAR_PORT out=$BATS_TEST_TMPDIR/relay.port
	if [ -n "${RELAY:-}" ]; then
		/usr/bin/python3 "$PP_RELAY" pass 0 "$FAR_PORT" \
		    "$BATS_TEST_TMPDIR" >"$out" 2>"$BATS_TEST_TMPDIR/relay.err" \
		    3>&- &
		np_track $!
		np_wait_for "$out" '^[0-9]+$' || return 1
		to=$(cat "$out")
	fi
	ppf_start NEAR --forward-passphrase --forward "127.0.0.1:$to"
}

# ppf_http: python3 http.server on a kernel-chosen port serving
# $BATS_TEST_TMPDIR/www; sets HTTP_PORT.
ppf_http() {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	/usr/bin/python3 -m http.server 0 --bind 127.0.0.1 \
	    --directory "$BATS_TEST_TMPDIR/www" \
	    >"$BATS_TEST_TMPDIR/http.out" 2>&1 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/http.out" 'port [0-9]+' || return 1
	HTTP_PORT=$(sed -nE 's/.* port ([0-9]+) .*/\1/p' \
	    "$BATS_TEST_TMPDIR/http.out" | head -n 1)
}

@test "curl through a passphrase tunnel to python3 http.server, 8 requests at once" {
	local i pids=()
	ppf_http
	head -c 3M /dev/urandom >"$BATS_TEST_TMPDIR/www/blob"
	ppf_tunnel "$HTTP_PORT"
	for i in $(seq 8); do
		timeout 30 curl -sf -o "$BATS_TEST_TMPDIR/got.$i" \
		    "http://127.0.0.1:$NEAR_PORT/blob" 3>&- &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 8); do
		assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got.$i")" \
		    "$(np_sha "$BATS_TEST_TMPDIR/www/blob")"
	done
	grep -q '^Passphrase from 127.0.0.1 [0-9]*: SPAKE2, AES-256-GCM$' \
	    "$BATS_TEST_TMPDIR/FAR.err"
	grep -q "^Passphrase to 127.0.0.1 $FAR_PORT: SPAKE2, AES-256-GCM$" \
	    "$BATS_TEST_TMPDIR/NEAR.err"
}

@test "8 MiB with NUL bytes each way through the tunnel, the half-close passed on" {
	local up down
	up=$(np_random_file up 8M)
	down=$(np_random_file down 8M)
	np_py_listen STREAM "$PY_SHA_THEN_SEND" "$down"
	ppf_tunnel "$PY_PORT"
	timeout 20 nc.openbsd -N 127.0.0.1 "$NEAR_PORT" <"$up" \
	    >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" "$(np_sha "$up")"
	tail -c +66 "$BATS_TEST_TMPDIR/got" >"$BATS_TEST_TMPDIR/body"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/body")" "$(np_sha "$down")"
	np_wait_for "$BATS_TEST_TMPDIR/FAR.err" \
	    "closed: 8388608 bytes to 127.0.0.1 $PY_PORT, 8388673 bytes back"
}

@test "a netpipe --passphrase client to the far end: 8 MiB each way, sha256" {
	local up down
	up=$(np_random_file up 8M)
	down=$(np_random_file down 8M)
	np_py_listen STREAM "$PY_SHA_THEN_SEND" "$down"
	ppf_start FAR --passphrase --forward "127.0.0.1:$PY_PORT"
	timeout 20 "${NP[@]}" -N --passphrase 127.0.0.1 "$FAR_PORT" <"$up" \
	    >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" "$(np_sha "$up")"
	tail -c +66 "$BATS_TEST_TMPDIR/got" >"$BATS_TEST_TMPDIR/body"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/body")" "$(np_sha "$down")"
}

@test "the near end to a netpipe --passphrase listener: the data arrives whole" {
	local up
	up=$(np_random_file up 5M)
	ppf_start FAR --passphrase
	ppf_start NEAR --forward-passphrase --forward "127.0.0.1:$FAR_PORT"
	timeout 20 nc.openbsd -N 127.0.0.1 "$NEAR_PORT" <"$up"
	np_wait_exit "$FAR_PID"
	run -0 wait "$FAR_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$up")"
}

@test "the tunnel's wire holds no plaintext, nor the phrase" {
	yes 'the launch codes are 0000' | head -c 2000000 \
	    >"$BATS_TEST_TMPDIR/www.in"
	np_py_listen STREAM "$PY_SHA_THEN_SEND" "$BATS_TEST_TMPDIR/www.in"
	RELAY=1 ppf_tunnel "$PY_PORT"
	timeout 20 nc.openbsd -N 127.0.0.1 "$NEAR_PORT" \
	    <"$BATS_TEST_TMPDIR/www.in" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/www.in")"
	np_wait_size "$BATS_TEST_TMPDIR/down" 2000000
	(($(stat -c %s "$BATS_TEST_TMPDIR/up") > 2000000))
	grep -aq 'launch codes' "$BATS_TEST_TMPDIR/got"
	run -1 grep -aq 'launch codes' "$BATS_TEST_TMPDIR/up" \
	    "$BATS_TEST_TMPDIR/down"
	run -1 grep -aqF 'amber lantern' "$BATS_TEST_TMPDIR/up" \
	    "$BATS_TEST_TMPDIR/down"
}

@test "a peer's wrong phrase: that pair ends, DEST is never dialled, the next peer gets in" {
	np_py_listen STREAM "$PY_SHA_THEN_SEND" /dev/null
	ppf_start FAR --passphrase --forward "127.0.0.1:$PY_PORT"
	NETPIPE_PASSPHRASE='amber lantern 8' run -1 --separate-stderr \
	    timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$FAR_PORT" \
	    </dev/null
	assert_equal "$stderr" "netpipe: passphrase does not match"
	np_wait_for "$BATS_TEST_TMPDIR/FAR.err" \
	    'wrong passphrase \(1 so far\): accepting again in 1000 ms'
	run -1 grep -q '^Forwarding' "$BATS_TEST_TMPDIR/FAR.err"
	echo right | timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 \
	    "$FAR_PORT" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" \
	    "$(echo right | sha256sum | cut -d' ' -f1)"
	kill -0 "$FAR_PID"
}

@test "a forwarder outlives 4 wrong phrases, pausing after each" {
	local i t0 t1
	np_closed_port
	ppf_start FAR --passphrase --forward "127.0.0.1:$CLOSED_PORT"
	t0=$(np_now)
	for i in 1 2 3 4; do
		NETPIPE_PASSPHRASE=guess$i run -1 timeout 10 "${NP[@]}" -N \
		    --passphrase 127.0.0.1 "$FAR_PORT" </dev/null
	done
	t1=$(np_now)
	# Each guess after the first waited out the pause of the one before.
	((t1 - t0 >= 3000))
	np_wait_for "$BATS_TEST_TMPDIR/FAR.err" 'wrong passphrase \(4 so far\)'
	kill -0 "$FAR_PID"
	run grep -c 'passphrase does not match' "$BATS_TEST_TMPDIR/FAR.err"
	assert_output 4
}

@test "a silent peer's handshake holds no other pair back, and ends after -w" {
	local sp w=6
	# Valgrind on a loaded machine can take seconds over a handshake.
	[ -z "${NETPIPE_WRAP:-}" ] || w=20
	np_py_listen STREAM "$PY_SHA_THEN_SEND" /dev/null
	ppf_start FAR -w "$w" --passphrase --forward "127.0.0.1:$PY_PORT"
	# A peer that connects and says nothing.
	python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.recv(100)
time.sleep(int(sys.argv[2]))
' "$FAR_PORT" $((3 * w)) 3>&- &
	sp=$!
	np_track "$sp"
	np_wait_for "$BATS_TEST_TMPDIR/FAR.err" 'Connection received'
	echo hello | timeout "$w" "${NP[@]}" -N --passphrase 127.0.0.1 \
	    "$FAR_PORT" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" \
	    "$(echo hello | sha256sum | cut -d' ' -f1)"
	# Served while the silent peer's handshake still waited: not after it.
	run ! grep -q 'Connection timed out' "$BATS_TEST_TMPDIR/FAR.err"
	np_wait_for "$BATS_TEST_TMPDIR/FAR.err" \
	    'passphrase handshake for 127.0.0.1 [0-9]+: Connection timed out' \
	    $((w + 10))
}

@test "--forward-passphrase to a DEST with another phrase: the peer is reset, the forwarder goes on" {
	ppf_start FAR --passphrase
	NETPIPE_PASSPHRASE=other ppf_start NEAR --forward-passphrase \
	    --forward "127.0.0.1:$FAR_PORT"
	run -0 timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    print("eof" if c.recv(1) == b"" else "data")
except ConnectionResetError:
    print("reset")
' "$NEAR_PORT"
	assert_output reset
	np_wait_for "$BATS_TEST_TMPDIR/NEAR.err" \
	    "passphrase handshake with 127.0.0.1 $FAR_PORT"
	kill -0 "$NEAR_PID"
	np_wait_exit "$FAR_PID"
	run -1 wait "$FAR_PID"
	grep -qx 'netpipe: passphrase does not match' \
	    "$BATS_TEST_TMPDIR/FAR.err"
}

@test "usage: --forward-passphrase needs --forward, and mixes with neither --forward-tls nor -u" {
	run -2 "${NP[@]}" -l 127.0.0.1 0 --forward-passphrase
	assert_output --partial '--forward-passphrase requires --forward'
	run -2 "${NP[@]}" -l 127.0.0.1 0 --forward-passphrase --forward-tls \
	    --forward 127.0.0.1:1
	assert_output --partial 'cannot be used together'
	run -2 "${NP[@]}" -u -l 127.0.0.1 0 --forward-passphrase \
	    --forward 127.0.0.1:1
	assert_output --partial 'cannot be used together'
}
