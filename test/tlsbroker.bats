#!/usr/bin/env bats
# --broker, --chat and -k --max-conns over TLS: netpipe, openssl s_client
# and socat's OPENSSL address as the TLS clients of one listener, plain TCP
# peers that fail or stall their handshakes beside them, and what each
# client is told at its end.  The PKI is made at test time (tls_pki).

load helpers

setup_file() {
	tls_pki
}

# tb_netpipe NAME [ARGS...]: a background netpipe --tls client of the
# listener on $NP_PORT, verifying it against the test CA, that sends what
# is written to the held fifo $BATS_TEST_TMPDIR/NAME.in and writes what it
# receives to NAME.out (its messages to NAME.err).  Sets CLIENT_PID.
tb_netpipe() {
	local name=$1
	shift
	np_fifo_held "$name.in"
	timeout 30 "${NP[@]}" --tls --tls-ca "$TLS_DIR/ca.pem" "$@" localhost \
	    "$NP_PORT" <"$FIFO" >"$BATS_TEST_TMPDIR/$name.out" \
	    2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	CLIENT_PID=$!
	np_track "$CLIENT_PID"
}

# tb_s_client NAME [ARGS...]: as tb_netpipe, with openssl s_client.
tb_s_client() {
	local name=$1
	shift
	np_fifo_held "$name.in"
	timeout 30 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" "$@" \
	    -connect "127.0.0.1:$NP_PORT" <"$FIFO" \
	    >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	CLIENT_PID=$!
	np_track "$CLIENT_PID"
}

# tb_socat NAME [OPTIONS]: a background socat that only receives, through
# an OPENSSL address verifying the listener (OPTIONS added to it), into
# $BATS_TEST_TMPDIR/NAME.out.  Sets CLIENT_PID.
tb_socat() {
	timeout 30 socat -u \
	    "OPENSSL:127.0.0.1:$NP_PORT,cafile=$TLS_DIR/ca.pem,commonname=localhost${2:+,$2}" \
	    "CREATE:$BATS_TEST_TMPDIR/$1.out" 2>"$BATS_TEST_TMPDIR/$1.err" 3>&- &
	CLIENT_PID=$!
	np_track "$CLIENT_PID"
}

# tb_all_got FILE NAME...: each NAME.out grows to FILE's size and then
# has its sha256, and the hub is still running.
tb_all_got() {
	local data=$1 name
	shift
	for name; do
		np_wait_size "$BATS_TEST_TMPDIR/$name.out" "$(stat -c %s "$data")"
		assert_equal "$(np_sha "$BATS_TEST_TMPDIR/$name.out")" \
		    "$(np_sha "$data")"
	done
	kill -0 "$NP_PID"
}

@test "--broker over TLS relays 1 MiB with NUL bytes from a netpipe client to s_client and socat, not back" {
	local data
	data=$(np_random_file data 1048576)
	# A small queue makes the slow receivers hold the sender back.
	tls_listen --broker --broker-block --queue-size 64K 127.0.0.1 0
	tb_s_client b
	tb_socat c
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 2$'
	np_io "$data" "$BATS_TEST_TMPDIR/a.out" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT"
	# The broker answered the sender's close_notify with its own.
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/a.out")" 0
	tb_all_got "$data" b c
}

@test "--chat over TLS announces a peer once its handshake is done and relays its lines with its name" {
	local out=$BATS_TEST_TMPDIR/a.out
	tls_listen --chat 127.0.0.1 0
	tb_netpipe a
	np_wait_for "$out" '^<announce> you are <user1>'
	# user2 speaks plain TCP and never gets past its handshake.
	timeout 30 nc.openbsd -d 127.0.0.1 "$NP_PORT" >/dev/null 2>&1 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on ' 10 2
	run -0 timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -connect "127.0.0.1:$NP_PORT" <<<"hello over TLS"
	np_wait_for "$out" 'has left\.$'
	assert_equal "$(cat "$out")" "<announce> you are <user1>; 0 others are here.
<announce> <user3> has joined.
<user3> hello over TLS
<announce> <user3> has left."
	echo "/nick alice" >"$BATS_TEST_TMPDIR/a.in"
	np_wait_for "$out" '^<announce> <user1> is now known as <alice>\.$'
}

@test "-k --max-conns 2 over TLS sends stdin to both clients and their data to stdout; -N ends each with close_notify" {
	local data in holder apid
	data=$(np_random_file data 1048576)
	np_fifo_held in
	in=$FIFO holder=$HOLDER_PID
	NP_IN=$in tls_listen -k -N --max-conns 2 127.0.0.1 0
	tb_netpipe a
	apid=$CLIENT_PID
	tb_s_client b
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 2$'
	echo "from a" >"$BATS_TEST_TMPDIR/a.in"
	echo "from b" >"$BATS_TEST_TMPDIR/b.in"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^from a$'
	np_wait_for "$BATS_TEST_TMPDIR/out" '^from b$'
	timeout 10 bash -c 'cat "$1" >"$2"' _ "$data" "$in"
	kill "$holder"
	np_status "$apid" 20
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a.err")" ""
	np_wait_size "$BATS_TEST_TMPDIR/b.out" 1048576
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/a.out")" "$(np_sha "$data")"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/b.out")" "$(np_sha "$data")"
	run -0 sort "$BATS_TEST_TMPDIR/out"
	assert_output "from a
from b"
}

@test "a TLS broker drops a plain-text client with a message and keeps relaying while a silent one waits" {
	local err=$BATS_TEST_TMPDIR/listen.err
	tls_listen --broker 127.0.0.1 0
	# This peer says nothing: its handshake must not hold up the others.
	timeout 30 nc.openbsd -d 127.0.0.1 "$NP_PORT" >/dev/null 2>&1 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	tb_socat b
	np_wait_for "$err" '^Peers connected: 1$'
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <<<"plain text" \
	    >/dev/null 2>&1 || true
	np_wait_for "$err" '^netpipe: tls: handshake: 127\.0\.0\.1 [0-9]+: .*wrong version number$'
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT" <<<"still relaying"
	np_wait_for "$BATS_TEST_TMPDIR/b.out" '^still relaying$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b.out")" "still relaying"
	# Neither plain peer ever counted as connected.
	run -1 grep -q '^Peers connected: 3$' "$err"
	kill -0 "$NP_PID"
}

@test "a TLS broker gives up a handshake not done within -w, and its place goes to the next peer" {
	local w=1 silent=$BATS_TEST_TMPDIR/silent.out
	# Under valgrind a real handshake alone can take a second.
	[ -z "${NETPIPE_WRAP:-}" ] || w=10
	tls_listen --broker --max-conns 2 -w "$w" 127.0.0.1 0
	timeout 30 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
s.settimeout(25)
print("closed" if s.recv(1) == b"" else "data", flush=True)
' "$NP_PORT" >"$silent" 3>&- &
	np_track $!
	np_wait_for "$silent" '^connected$'
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	# -w is also the idle timeout of a peer that joined, and b joins just
	# after the silent one came in: it sends a byte every 0.2 s (which
	# only the next peer gets) so that it is still here for that peer.
	timeout 30 python3 -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="localhost")
s.settimeout(0.2)
got = b""
while not got.endswith(b"\n"):
    s.sendall(b".")
    try:
        d = s.recv(4096)
    except socket.timeout:
        continue
    if not d:
        break
    got += d
sys.stdout.buffer.write(got)
' "$NP_PORT" "$TLS_DIR/ca.pem" >"$BATS_TEST_TMPDIR/b.out" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$'
	# Both places are taken: this one waits in the listen queue.
	run -0 --separate-stderr timeout 30 "${NP[@]}" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT" <<<"in its place"
	np_wait_for "$BATS_TEST_TMPDIR/b.out" '^in its place$'
	np_wait_for "$silent" '^closed$'
	grep -Eq '^netpipe: tls: handshake: 127\.0\.0\.1 [0-9]+: Connection timed out$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "-w 1 closes a TLS broker peer idle since its handshake with close_notify, and the listener goes on" {
	local t0 t1
	np_skip_timing_if_wrapped
	tls_listen --broker -w 1 127.0.0.1 0
	tb_netpipe a
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$'
	t0=$(np_now)
	# Nothing was cut, so the client takes the end as a clean one.
	np_status "$CLIENT_PID"
	t1=$(np_now)
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a.err")" ""
	((t1 - t0 >= 700 && t1 - t0 < 3000))
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	tb_netpipe c
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$' 10 2
	kill -0 "$NP_PID"
}

@test "a TLS broker with --tls-ca drops a client without a certificate and relays for those with one" {
	local cert="cert=$TLS_DIR/client.pem,key=$TLS_DIR/client.key"
	tls_listen --broker --tls-ca "$TLS_DIR/ca.pem" 127.0.0.1 0
	run -1 --separate-stderr timeout 10 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT" <<<"no certificate"
	[[ $stderr == "netpipe: tls: "*"certificate required"* ]]
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" \
	    '^netpipe: tls: handshake: 127\.0\.0\.1 [0-9]+: .*peer did not return a certificate'
	tb_socat b "$cert"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$'
	run -0 timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -cert "$TLS_DIR/client.pem" -key "$TLS_DIR/client.key" \
	    -connect "127.0.0.1:$NP_PORT" <<<"with a certificate"
	np_wait_for "$BATS_TEST_TMPDIR/b.out" '^with a certificate$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b.out")" "with a certificate"
	kill -0 "$NP_PID"
}

@test "a TLS peer dropped for a full queue gets no close_notify, so its client reports the cut" {
	local data pipe=$BATS_TEST_TMPDIR/slow.pipe pid
	data=$(np_random_file data 4194304)
	tls_listen --broker --queue-size 64K 127.0.0.1 0
	# The slow client's stdout is a pipe that nobody reads for now.
	mkfifo "$pipe"
	"${NP_HOLD[@]}" <"$pipe" 3>&- &
	np_track $!
	timeout 30 "${NP[@]}" -d -I 4096 --tls --tls-ca "$TLS_DIR/ca.pem" \
	    localhost "$NP_PORT" >"$pipe" 2>"$BATS_TEST_TMPDIR/slow.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 1$'
	run -0 --separate-stderr timeout 20 "${NP[@]}" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT" <"$data"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" \
	    '^netpipe: 127\.0\.0\.1 [0-9]+: output queue full \(65536 bytes\), peer dropped$'
	timeout 10 cat "$pipe" >/dev/null
	np_status "$pid"
	assert_equal "$NP_STATUS" 1
	run cat "$BATS_TEST_TMPDIR/slow.err"
	assert_output --regexp '^netpipe: tls: read: .*unexpected eof'
}

# tb_onesend FILE: test/tls_onesend.py sends FILE and its close_notify to
# the listener in one send, and waits (bounded) for the listener's own
# close_notify; its stderr goes to onesend.err, what it got to onesend.out.
tb_onesend() {
	NP_RC=0
	timeout 20 python3 "$BATS_TEST_DIRNAME/tls_onesend.py" "$NP_PORT" \
	    "$TLS_DIR/ca.pem" <"$1" >"$BATS_TEST_TMPDIR/onesend.out" \
	    2>"$BATS_TEST_TMPDIR/onesend.err" || NP_RC=$?
}

@test "--broker over TLS sees the end of a peer whose last data and close_notify come in one read" {
	local data err=$BATS_TEST_TMPDIR/listen.err
	data=$(np_random_file data 1048576)
	# --broker-block with a small queue also holds the sender's last
	# records back while the receivers catch up.
	tls_listen --broker --broker-block --queue-size 64K 127.0.0.1 0
	tb_netpipe a
	tb_socat b
	np_wait_for "$err" '^Peers connected: 2$'
	tb_onesend "$data"
	# The hub saw the clean end and answered it with its close_notify.
	assert_equal "$NP_RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/onesend.err")" "close_notify"
	np_wait_for "$err" '^Peers connected: 3$'
	np_wait_for "$err" '^Peers connected: 2$' 10 2
	tb_all_got "$data" a b
}

@test "--chat over TLS announces the leave of a peer whose last line and close_notify come in one read" {
	local out=$BATS_TEST_TMPDIR/a.out
	tls_listen --chat 127.0.0.1 0
	tb_netpipe a
	np_wait_for "$out" '^<announce> you are <user1>'
	printf 'the last word\n' >"$BATS_TEST_TMPDIR/line"
	tb_onesend "$BATS_TEST_TMPDIR/line"
	assert_equal "$NP_RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/onesend.err")" "close_notify"
	np_wait_for "$out" '^<announce> <user2> has left\.$'
	assert_equal "$(cat "$out")" "<announce> you are <user1>; 0 others are here.
<announce> <user2> has joined.
<user2> the last word
<announce> <user2> has left."
}

@test "--broker, --chat and -k --max-conns 2 take --tls, which still needs a certificate and key" {
	local mode
	np_fails 2 "netpipe: --tls with -l needs --tls-cert and --tls-key" \
	    -l --broker --tls 127.0.0.1 0
	np_fails 2 "netpipe: --tls with -l needs --tls-cert and --tls-key" \
	    -l --chat --tls --tls-key "$TLS_DIR/server.key" 127.0.0.1 0
	np_fails 2 "netpipe: --tls and -u cannot be used together" \
	    -l -u --broker --tls --tls-cert "$TLS_DIR/server.pem" \
	    --tls-key "$TLS_DIR/server.key" 127.0.0.1 0
	for mode in --broker --chat "-k --max-conns 2"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr timeout 10 "${NP[@]}" -l $mode --tls \
		    --tls-cert "$TLS_DIR/server.pem" \
		    --tls-key "$TLS_DIR/server.key" --accept-timeout 1 \
		    127.0.0.1 0 </dev/null
		assert_equal "$stderr" \
		    "netpipe: accept: timed out after 1 second (--accept-timeout)"
	done
}
