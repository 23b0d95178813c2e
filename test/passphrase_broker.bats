#!/usr/bin/env bats
# --passphrase with --broker, --chat and -k --max-conns (issue 17): every
# peer does its handshake on the hub's loop and joins only once the key is
# confirmed; a wrong phrase drops that peer alone.  Peers: netpipe clients
# and the python3-spake2 peer of test/pp_peer.py.

load helpers

PP_PEER=$BATS_TEST_DIRNAME/pp_peer.py

setup() {
	export NETPIPE_PASSPHRASE='copper whistle 9'
}

# ppb_receiver N: a netpipe client that only receives, into
# $BATS_TEST_TMPDIR/recv.N.
ppb_receiver() {
	timeout 30 "${NP[@]}" -d --passphrase 127.0.0.1 "$NP_PORT" \
	    >"$BATS_TEST_TMPDIR/recv.$1" 2>"$BATS_TEST_TMPDIR/recv.$1.err" \
	    3>&- &
	np_track $!
}

# ppb_joined N: the hub says N peers are in.
ppb_joined() {
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" "^Peers connected: $1$"
}

@test "--broker: a python3-spake2 peer's 1 MB reaches two netpipe peers, then a netpipe peer's" {
	local a b
	a=$(np_random_file a 1000000)
	b=$(np_random_file b 1000000)
	np_listen --broker --passphrase 127.0.0.1 0
	ppb_receiver 1
	ppb_joined 1
	ppb_receiver 2
	ppb_joined 2
	run -0 timeout 20 /usr/bin/python3 "$PP_PEER" client "$NP_PORT" <"$a"
	np_wait_size "$BATS_TEST_TMPDIR/recv.1" 1000000
	np_wait_size "$BATS_TEST_TMPDIR/recv.2" 1000000
	[ "$(np_sha "$BATS_TEST_TMPDIR/recv.1")" = "$(np_sha "$a")" ]
	[ "$(np_sha "$BATS_TEST_TMPDIR/recv.2")" = "$(np_sha "$a")" ]
	timeout 20 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" <"$b"
	np_wait_size "$BATS_TEST_TMPDIR/recv.1" 2000000
	np_wait_size "$BATS_TEST_TMPDIR/recv.2" 2000000
	cat "$a" "$b" >"$BATS_TEST_TMPDIR/ab"
	[ "$(np_sha "$BATS_TEST_TMPDIR/recv.1")" = \
	    "$(np_sha "$BATS_TEST_TMPDIR/ab")" ]
	[ "$(np_sha "$BATS_TEST_TMPDIR/recv.2")" = \
	    "$(np_sha "$BATS_TEST_TMPDIR/ab")" ]
	grep -q '^Passphrase from 127.0.0.1 [0-9]*: SPAKE2, AES-256-GCM$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--broker: a wrong phrase drops that peer before it joins; the others go on" {
	local a
	a=$(np_random_file a 300000)
	np_listen --broker --passphrase 127.0.0.1 0
	ppb_receiver 1
	ppb_joined 1
	NETPIPE_PASSPHRASE='copper whistle 8' run -1 --separate-stderr \
	    timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" <"$a"
	assert_equal "$stderr" "netpipe: passphrase does not match"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" \
	    'wrong passphrase \(1 so far\): accepting again in 1000 ms'
	run -1 grep -q '^Peers connected: 2$' "$BATS_TEST_TMPDIR/listen.err"
	[ ! -s "$BATS_TEST_TMPDIR/recv.1" ]
	# The next peer with the right phrase gets in after the pause.
	timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" <"$a"
	np_wait_size "$BATS_TEST_TMPDIR/recv.1" 300000
	[ "$(np_sha "$BATS_TEST_TMPDIR/recv.1")" = "$(np_sha "$a")" ]
	kill -0 "$NP_PID"
}

@test "--broker: a peer still in its handshake is sent nothing" {
	local a
	a=$(np_random_file a 200000)
	np_listen --broker --passphrase 127.0.0.1 0
	ppb_receiver 1
	ppb_joined 1
	# Reads the broker's hello, then waits for "go" and counts what came.
	python3 -c '
import os, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = b""
while len(got) < 41:
    got += c.recv(41 - len(got))
open(sys.argv[2] + "/hello", "w").write("%d\n" % len(got))
end = time.monotonic() + 20
while not os.path.exists(sys.argv[2] + "/go") and time.monotonic() < end:
    time.sleep(0.01)
c.setblocking(False)
try:
    d = c.recv(1 << 20)
    more = "%d bytes" % len(d) if d else "eof"
except BlockingIOError:
    more = "nothing"
open(sys.argv[2] + "/more.tmp", "w").write(more + "\n")
os.rename(sys.argv[2] + "/more.tmp", sys.argv[2] + "/more")
' "$NP_PORT" "$BATS_TEST_TMPDIR" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/hello" '^41$'
	timeout 20 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" <"$a"
	np_wait_size "$BATS_TEST_TMPDIR/recv.1" 200000
	: >"$BATS_TEST_TMPDIR/go"
	np_wait_for "$BATS_TEST_TMPDIR/more" '^[a-z0-9 ]+$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/more")" nothing
	run -1 grep -q '^Peers connected: 3$' "$BATS_TEST_TMPDIR/listen.err"
}

@test "--broker: an end record that comes in one read with the data still ends the peer" {
	np_listen --broker --passphrase 127.0.0.1 0
	ppb_receiver 1
	ppb_joined 1
	printf 'short and final' | PP_PEER_ONESEND=1 run -0 timeout 10 \
	    /usr/bin/python3 "$PP_PEER" client "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/recv.1" '^short and final$'
}

@test "--chat: a line from a python3-spake2 peer reaches a netpipe peer with its nick" {
	np_listen --chat --passphrase 127.0.0.1 0
	ppb_receiver 1
	ppb_joined 1
	printf 'meet at the old mill\n' |
	    timeout 20 /usr/bin/python3 "$PP_PEER" client "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/recv.1" \
	    '^<user2> meet at the old mill$'
	grep -q '^<announce> <user2> has joined.$' "$BATS_TEST_TMPDIR/recv.1"
}

@test "-k --max-conns: each peer's bytes reach the listener's output through passphrase records" {
	local a
	a=$(np_random_file a 2000000)
	np_listen -k --max-conns 4 --passphrase 127.0.0.1 0
	timeout 20 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" <"$a"
	np_wait_size "$BATS_TEST_TMPDIR/out" 2000000
	[ "$(np_sha "$BATS_TEST_TMPDIR/out")" = "$(np_sha "$a")" ]
}

@test "--passphrase is still refused with -e" {
	run -2 "${NP[@]}" -l 127.0.0.1 0 --passphrase -e /bin/cat
	assert_output --partial 'cannot be used together'
}
