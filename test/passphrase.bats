#!/usr/bin/env bats
# --passphrase: SPAKE2 from a shared phrase, key confirmation, then AEAD
# records.  Peers: netpipe itself, a python3-spake2 peer written from the
# man page's wire format (test/pp_peer.py), and a relay that tees every
# byte and attacks the records in transit (test/pp_relay.py).

load helpers

PP_PEER=$BATS_TEST_DIRNAME/pp_peer.py
PP_RELAY=$BATS_TEST_DIRNAME/pp_relay.py

setup() {
	export NETPIPE_PASSPHRASE='violet kettle 42'
}

# pp_relay MODE K: a relay in front of the listener on NP_PORT; sets
# RELAY_PID and RELAY_PORT; the capture goes to $BATS_TEST_TMPDIR/up, down.
pp_relay() {
	local out=$BATS_TEST_TMPDIR/relay.port
	/usr/bin/python3 "$PP_RELAY" "$1" "$2" "$NP_PORT" "$BATS_TEST_TMPDIR" \
	    >"$out" 2>"$BATS_TEST_TMPDIR/relay.err" 3>&- &
	RELAY_PID=$!
	np_track "$RELAY_PID"
	np_wait_for "$out" '^[0-9]+$' || return 1
	RELAY_PORT=$(cat "$out")
}

# pp_prefix FILE: the listener's output is a prefix of FILE.
pp_prefix() {
	local n
	n=$(stat -c %s "$BATS_TEST_TMPDIR/out")
	cmp -n "$n" "$BATS_TEST_TMPDIR/out" "$1"
}

# pp_attack MODE K: send a 1 MiB file through the relay attacking record K;
# the listener must exit 1 with nothing after the last good record.
pp_attack() {
	local in
	in=$(np_random_file in 1048576)
	np_listen --passphrase 127.0.0.1 0
	pp_relay "$1" "$2"
	run timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$RELAY_PORT" \
	    <"$in"
	run np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	pp_prefix "$in"
}

@test "--passphrase copies a file with NUL bytes to a listener" {
	local in
	in=$(np_random_file in 3000000)
	np_listen --passphrase 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT" \
	    <"$in"
	np_wait_exit "$NP_PID"
	run -0 wait "$NP_PID"
	[ "$(np_sha "$BATS_TEST_TMPDIR/out")" = "$(np_sha "$in")" ]
	grep -q "^Passphrase: SPAKE2, AES-256-GCM$" \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--passphrase over a Unix stream socket" {
	local in sock=$BATS_TEST_TMPDIR/pp.sock
	in=$(np_random_file in 500000)
	np_listen --passphrase -U "$sock"
	timeout 10 "${NP[@]}" -N --passphrase -U "$sock" <"$in"
	np_wait_exit "$NP_PID"
	run -0 wait "$NP_PID"
	cmp "$BATS_TEST_TMPDIR/out" "$in"
}

@test "--passphrase carries 256 MiB with NUL bytes both ways at once" {
	local up down size=268435456
	# valgrind runs netpipe some 30 times slower: 32 MiB, still many
	# records and more than any buffer.
	[ -z "${NETPIPE_WRAP:-}" ] || size=$((32 * 1024 * 1024))
	up=$(np_random_file up $size)
	down=$(np_random_file down $size)
	NP_IN=$down np_listen --passphrase -N --half-close 127.0.0.1 0
	timeout 50 "${NP[@]}" --passphrase -N --half-close 127.0.0.1 \
	    "$NP_PORT" <"$up" >"$BATS_TEST_TMPDIR/got"
	np_wait_exit "$NP_PID" 20
	run -0 wait "$NP_PID"
	[ "$(np_sha "$BATS_TEST_TMPDIR/out")" = "$(np_sha "$up")" ]
	[ "$(np_sha "$BATS_TEST_TMPDIR/got")" = "$(np_sha "$down")" ]
}

@test "the wire holds no plaintext, nor the phrase, and the data arrives" {
	yes 'the secret plans are in the blue folder' | head -c 2000000 \
	    >"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen --passphrase -N --half-close \
	    127.0.0.1 0
	pp_relay pass 0
	timeout 10 "${NP[@]}" -N --half-close --passphrase 127.0.0.1 \
	    "$RELAY_PORT" \
	    <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/got"
	np_wait_exit "$NP_PID"
	cmp "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/in"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	(($(stat -c %s "$BATS_TEST_TMPDIR/up") > 2000000))
	(($(stat -c %s "$BATS_TEST_TMPDIR/down") > 2000000))
	run -1 grep -aq 'secret' "$BATS_TEST_TMPDIR/up" "$BATS_TEST_TMPDIR/down"
	run -1 grep -aqF 'violet kettle' "$BATS_TEST_TMPDIR/up" \
	    "$BATS_TEST_TMPDIR/down"
}

@test "a bit flipped in transit: exit 1, output a prefix of the input" {
	pp_attack flip 2
	grep -q 'a record failed authentication' \
	    "$BATS_TEST_TMPDIR/listen.err"
	(($(stat -c %s "$BATS_TEST_TMPDIR/out") < 1048576))
}

@test "a record dropped in transit: exit 1, output a prefix of the input" {
	pp_attack drop 3
	grep -q 'a record failed authentication' \
	    "$BATS_TEST_TMPDIR/listen.err"
	(($(stat -c %s "$BATS_TEST_TMPDIR/out") < 1048576))
}

@test "a record replayed in transit: exit 1, output a prefix of the input" {
	pp_attack replay 1
	grep -q 'a record failed authentication' \
	    "$BATS_TEST_TMPDIR/listen.err"
	(($(stat -c %s "$BATS_TEST_TMPDIR/out") < 1048576))
}

@test "a stream cut between records: exit 1, output a prefix of the input" {
	pp_attack cut 4
	grep -q 'cut before the peer.s end record' \
	    "$BATS_TEST_TMPDIR/listen.err"
	(($(stat -c %s "$BATS_TEST_TMPDIR/out") < 1048576))
}

@test "all data but no end record: exit 1, the truncation is reported" {
	pp_attack noend 0
	grep -q 'cut before the peer.s end record' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "a wrong passphrase: both exit 1, no data byte sent or written" {
	local in
	in=$(np_random_file in 100000)
	np_listen --passphrase 127.0.0.1 0
	pp_relay pass 0
	NETPIPE_PASSPHRASE='violet kettle 43' run -1 --separate-stderr \
	    timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$RELAY_PORT" \
	    <"$in"
	[ "$stderr" = "netpipe: passphrase does not match" ]
	np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	grep -qx 'netpipe: passphrase does not match' \
	    "$BATS_TEST_TMPDIR/listen.err"
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
	np_wait_exit "$RELAY_PID"
	# A hello (41 bytes) and a confirmation (32) each way, nothing more.
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/up")" = 73 ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/down")" = 73 ]
}

@test "a -k listener gives up after 3 wrong passphrases, and says so" {
	np_listen -k --passphrase 127.0.0.1 0
	for i in 1 2 3; do
		NETPIPE_PASSPHRASE=guess$i run -1 timeout 10 "${NP[@]}" -N \
		    --passphrase 127.0.0.1 "$NP_PORT" </dev/null
	done
	np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	grep -q 'passphrase: 3 wrong passphrases: giving up' \
	    "$BATS_TEST_TMPDIR/listen.err"
	[ "$(grep -c 'passphrase does not match' \
	    "$BATS_TEST_TMPDIR/listen.err")" = 3 ]
}

@test "a -k listener serves a right phrase after a wrong one" {
	np_listen -k --passphrase 127.0.0.1 0
	NETPIPE_PASSPHRASE=guess run -1 timeout 10 "${NP[@]}" -N \
	    --passphrase 127.0.0.1 "$NP_PORT" </dev/null
	echo second | timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^second$'
	kill -0 "$NP_PID"
}

@test "the phrase is in neither /proc/PID/cmdline nor /proc/PID/environ" {
	np_listen --passphrase 127.0.0.1 0
	tr '\0' '\n' </proc/"$NP_PID"/cmdline >"$BATS_TEST_TMPDIR/cmdline"
	tr '\0' '\n' </proc/"$NP_PID"/environ >"$BATS_TEST_TMPDIR/environ"
	grep -q -- --passphrase "$BATS_TEST_TMPDIR/cmdline"
	grep -q '^PATH=' "$BATS_TEST_TMPDIR/environ"
	run -1 grep -qF 'violet kettle' "$BATS_TEST_TMPDIR/cmdline"
	# The kernel shows the block the process started with: the name
	# stays, its value is wiped to NULs.  valgrind hands netpipe a copy
	# of that block and the kernel shows valgrind's, which netpipe
	# cannot reach.
	if [ -z "${NETPIPE_WRAP:-}" ]; then
		run -1 grep -qF 'violet kettle' "$BATS_TEST_TMPDIR/environ"
		run -1 grep -q '^NETPIPE_PASSPHRASE=.' "$BATS_TEST_TMPDIR/environ"
	fi
	echo hi | timeout 10 "${NP[@]}" -N --passphrase 127.0.0.1 "$NP_PORT"
	np_wait_exit "$NP_PID"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = hi ]
}

@test "python3-spake2 as the listener: keys confirmed, records both ways" {
	echo 'from python' >"$BATS_TEST_TMPDIR/pyin"
	/usr/bin/python3 "$PP_PEER" server <"$BATS_TEST_TMPDIR/pyin" \
	    >"$BATS_TEST_TMPDIR/py.out" 2>"$BATS_TEST_TMPDIR/py.err" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+$'
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --passphrase \
	    127.0.0.1 "$(head -n 1 "$BATS_TEST_TMPDIR/py.out")" \
	    <<<'from netpipe'
	[ "$output" = 'from python' ]
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^from netpipe$'
}

@test "python3-spake2 as the client of a netpipe listener" {
	echo 'from netpipe' >"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen --passphrase -N --half-close \
	    127.0.0.1 0
	run -0 --separate-stderr timeout 10 /usr/bin/python3 "$PP_PEER" \
	    client "$NP_PORT" <<<'from python'
	[ "$output" = 'from netpipe' ]
	np_wait_exit "$NP_PID"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = 'from python' ]
}

@test "without AES on one end, XChaCha20-Poly1305 records both ways" {
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/pyin"
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen --passphrase -N --half-close \
	    127.0.0.1 0
	PP_PEER_CHACHA=1 timeout 10 /usr/bin/python3 "$PP_PEER" client \
	    "$NP_PORT" <"$BATS_TEST_TMPDIR/pyin" >"$BATS_TEST_TMPDIR/got"
	np_wait_exit "$NP_PID"
	run -0 wait "$NP_PID"
	cmp "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/in"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/pyin"
	grep -q '^Passphrase: SPAKE2, XChaCha20-Poly1305$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "python3-spake2 with another phrase: both sides see the mismatch" {
	np_listen --passphrase 127.0.0.1 0
	NETPIPE_PASSPHRASE=other run -3 --separate-stderr timeout 10 \
	    /usr/bin/python3 "$PP_PEER" client "$NP_PORT" </dev/null
	np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	grep -qx 'netpipe: passphrase does not match' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--passphrase=new prints a phrase of 80 bits that a client can use" {
	unset NETPIPE_PASSPHRASE
	np_listen --passphrase=new 127.0.0.1 0
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Passphrase: '
	run sed -n 's/^Passphrase: //p' "$BATS_TEST_TMPDIR/listen.err"
	[[ $output =~ ^[2-9a-km-np-z]{4}(-[2-9a-km-np-z]{4}){3}$ ]]
	echo hi | NETPIPE_PASSPHRASE=$output timeout 10 "${NP[@]}" -N \
	    --passphrase 127.0.0.1 "$NP_PORT"
	np_wait_exit "$NP_PID"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = hi ]
}

@test "the phrase is read from the terminal with echo off" {
	np_listen --passphrase -N 127.0.0.1 0
	unset NETPIPE_PASSPHRASE
	run -0 timeout 10 /usr/bin/python3 -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-d", "--passphrase", "127.0.0.1",
             sys.argv[2]])
seen = b""
while b"Passphrase:" not in seen:
    seen += os.read(fd, 100)
os.write(fd, b"violet kettle 42\n")
rest = b""
try:
    while True:
        d = os.read(fd, 100)
        if not d:
            break
        rest += d
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write("echoed\n" if b"violet" in rest else "quiet\n")
' "$NETPIPE" "$NP_PORT"
	[ "$output" = quiet ]
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Passphrase: SPAKE2'
}

@test "no phrase and no terminal: exit 1 before connecting" {
	unset NETPIPE_PASSPHRASE
	run -1 --separate-stderr setsid -w "${NP[@]}" --passphrase 127.0.0.1 1 \
	    </dev/null
	assert_equal "$stderr" \
	    "netpipe: passphrase: no terminal to ask on: set NETPIPE_PASSPHRASE"
	NETPIPE_PASSPHRASE= run -1 --separate-stderr "${NP[@]}" --passphrase \
	    127.0.0.1 1 </dev/null
	[ "$stderr" = "netpipe: passphrase: the passphrase is empty" ]
}

@test "a silent peer: the handshake gives up after -w" {
	np_listen -w 1 --passphrase 127.0.0.1 0
	# -d: nc sends nothing and stays until the listener hangs up.
	nc.openbsd -d 127.0.0.1 "$NP_PORT" >/dev/null 3>&- &
	np_track $!
	np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	grep -q 'passphrase: handshake: Connection timed out' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "a peer that speaks something else is refused" {
	np_listen --passphrase 127.0.0.1 0
	head -c 100 /dev/zero | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" \
	    >/dev/null || true
	np_wait_exit "$NP_PID"
	run -1 wait "$NP_PID"
	grep -q "the peer does not speak netpipe's passphrase protocol" \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "--passphrase never takes the phrase from argv, nor mixes with --tls, -u or -e" {
	run -2 --separate-stderr "${NP[@]}" --passphrase=hunter2 127.0.0.1 1
	[[ ${stderr_lines[0]} == *'--passphrase: "hunter2" is invalid: the '* ]]
	[[ ${stderr_lines[0]} == *'from NETPIPE_PASSPHRASE or the terminal'* ]]
	run -2 --separate-stderr "${NP[@]}" --passphrase --tls 127.0.0.1 1
	[[ ${stderr_lines[0]} == *'--passphrase and --tls cannot be used '* ]]
	run -2 --separate-stderr "${NP[@]}" --passphrase -u 127.0.0.1 1
	[[ ${stderr_lines[0]} == *'--passphrase and -u cannot be used '* ]]
	run -2 --separate-stderr "${NP[@]}" --passphrase=new 127.0.0.1 1
	[[ ${stderr_lines[0]} == *'--passphrase=new requires -l' ]]
	run -2 --separate-stderr "${NP[@]}" -l --passphrase -e /bin/cat 1
	[[ ${stderr_lines[0]} == *'-e and --passphrase cannot be used '* ]]
}

@test "libcrypto's AES-256-GCM on one end, libsodium's on the other: 5 MB each way" {
	local up down
	up=$(np_random_file up 5000000)
	down=$(np_random_file down 5000000)
	NP_IN=$down NETPIPE_CRYPTO=libsodium np_listen -v --passphrase -N \
	    --half-close 127.0.0.1 0
	timeout 20 "${NP[@]}" -vv --passphrase -N --half-close 127.0.0.1 \
	    "$NP_PORT" <"$up" >"$BATS_TEST_TMPDIR/got" \
	    2>"$BATS_TEST_TMPDIR/client.err"
	np_wait_exit "$NP_PID"
	run -0 wait "$NP_PID"
	[ "$(np_sha "$BATS_TEST_TMPDIR/out")" = "$(np_sha "$up")" ]
	[ "$(np_sha "$BATS_TEST_TMPDIR/got")" = "$(np_sha "$down")" ]
	grep -qx 'Passphrase: SPAKE2, AES-256-GCM (libsodium)' \
	    "$BATS_TEST_TMPDIR/listen.err"
	grep -qx 'Passphrase: SPAKE2, AES-256-GCM (libcrypto)' \
	    "$BATS_TEST_TMPDIR/client.err"
}

@test "libsodium's AES-256-GCM also stops at a flipped bit" {
	NETPIPE_CRYPTO=libsodium pp_attack flip 1
	grep -q 'a record failed authentication' \
	    "$BATS_TEST_TMPDIR/listen.err"
	(($(stat -c %s "$BATS_TEST_TMPDIR/out") < 1048576))
}
