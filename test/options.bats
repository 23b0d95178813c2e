#!/usr/bin/env bats
# Every short flag and its long spelling, each with the effect that can be
# observed from a real peer (python3, socat, nc.openbsd, ss).

load helpers

# A python3 TCP listener script: accept peers one after another, read each
# to its end and print what came as hex.
READ_ALL='
while True:
    c, _ = s.accept()
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    print(data.hex(), flush=True)
    c.close()
'

# opt_ss_conn PORT: true once ss shows the established connection to
# PORT with its memory and TOS, which go to OPT_SS.
opt_ss_conn() {
	OPT_SS=$(ss -tnmH --tos state established dst "127.0.0.1:$1")
	[[ $OPT_SS == *skmem* ]]
}

@test "-h and --help print the usage and option summary on stdout and exit 0" {
	for flag in -h --help; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag"
		assert_success
		assert_equal "$stderr" ""
		assert_line --index 0 --regexp '^usage: netpipe '
		assert_line --partial -- '--listen'
		assert_line --partial -- '--recv-limit'
	done
}

@test "--version prints netpipe 0.1.0 on stdout and exits 0" {
	run --separate-stderr timeout 10 "${NP[@]}" --version
	assert_success
	assert_output "netpipe 0.1.0"
	assert_equal "$stderr" ""
}

@test "-v, -vv, -v -v, -vvv and --verbose --verbose print the connect line; no -v prints nothing" {
	np_python_listen STREAM '
while True:
    c, _ = s.accept()
    c.close()
'
	line="Connection to 127.0.0.1 $PY_PORT port [tcp/$(np_service "$PY_PORT")] succeeded!"
	for v in -v -vv "-v -v" -vvv "--verbose --verbose"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 10 "${NP[@]}" $v -d 127.0.0.1 \
		    "$PY_PORT"
		assert_success
		assert_output ""
		[[ $stderr == *"$line"* ]] || fail "$v: no connect line in: $stderr"
	done
	run --separate-stderr timeout 10 "${NP[@]}" -d 127.0.0.1 "$PY_PORT"
	assert_success
	assert_equal "$stderr" ""
}

@test "-C and --crlf turn LF into CR LF and leave CR LF, a lone CR and a final CR alone" {
	np_python_listen STREAM "$READ_ALL"
	for flag in -C --crlf; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -N 127.0.0.1 \
		    "$PY_PORT" < <(printf 'a\nb\r\nc\rd\n')
		assert_success
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" \
		    "$(np_hex 'a\r\nb\r\nc\rd\r\n')"
		# A CR at the very end of input is sent, not held back.
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -N 127.0.0.1 \
		    "$PY_PORT" < <(printf 'end\r')
		assert_success
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" \
		    "$(np_hex 'end\r')"
	done
}

@test "-C does not double the CR of a CR LF split across two writes" {
	export NP_RAW=$BATS_TEST_TMPDIR/raw
	np_python_listen STREAM '
c, _ = s.accept()
raw = open(os.environ["NP_RAW"], "wb")
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    raw.write(d)
    raw.flush()
    data += d
print(data.hex(), flush=True)
c.close()
'
	mkfifo "$BATS_TEST_TMPDIR/in"
	# The writer sends "a\r", waits (bounded) until the listener has
	# received something, then sends "\nb\n": netpipe reads the pair
	# in two reads.
	timeout 10 python3 -c '
import os, sys, time
fifo, raw = sys.argv[1:3]
f = open(fifo, "wb", buffering=0)
f.write(b"a\r")
for _ in range(150):
    if os.path.exists(raw) and os.path.getsize(raw) >= 1:
        break
    time.sleep(0.02)
f.write(b"\nb\n")
f.close()
' "$BATS_TEST_TMPDIR/in" "$NP_RAW" 3>&- &
	np_track $!
	run --separate-stderr timeout 10 "${NP[@]}" -C -N 127.0.0.1 "$PY_PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'a\r\nb\r\n')"
}

@test "-t and --telnet answer DO with WONT and WILL with DONT and strip them from the output" {
	np_python_listen STREAM '
while True:
    c, _ = s.accept()
    c.sendall(b"he\xff\xfd\x18llo\n\xff\xfb\x01bye\n")
    c.settimeout(5)
    got = b""
    try:
        while len(got) < 6:
            d = c.recv(100)
            if not d:
                break
            got += d
    except socket.timeout:
        pass
    print(got.hex(), flush=True)
    c.close()
'
	for flag in -t --telnet; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -d 127.0.0.1 \
		    "$PY_PORT"
		assert_success
		assert_output "$(printf 'hello\nbye')"
		# IAC WONT 24, IAC DONT 1
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" fffc18fffe01
	done
}

@test "-k -t reads each peer's stream afresh: an IAC a peer left cut off takes none of the next peer's bytes" {
	np_listen -k -d -t 127.0.0.1 0
	# The first peer's last byte is IAC (0xff); the second's first is
	# 0xfd, DO after an IAC, plain data at the start of a stream.
	printf 'one\377' | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" \
	    >"$BATS_TEST_TMPDIR/peer1.out"
	np_wait_size "$BATS_TEST_TMPDIR/out" 3
	printf '\375two\n' | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" \
	    >"$BATS_TEST_TMPDIR/peer2.out"
	np_wait_for "$BATS_TEST_TMPDIR/out" 'wo$'
	assert_equal "$(od -An -v -tx1 "$BATS_TEST_TMPDIR/out" | tr -d ' \n')" \
	    "$(np_hex 'one\375two\n')"
	# Nothing was refused: the second peer heard no IAC WONT.
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/peer2.out")" 0
}

@test "-k -t: a refusal a peer left before it could go dies with that peer, and the next peer gets the input alone" {
	printf 'one\ntwo\nthree\n' >"$BATS_TEST_TMPDIR/in"
	# -i 1 holds "two" and "three" back a second each: a refusal queued
	# behind them (as it once was) could not reach the first peer.
	NP_IN=$BATS_TEST_TMPDIR/in np_listen -k -N -t -i 1 127.0.0.1 0
	run -0 timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"\xff\xfd\x18")
got = b""
while b"one\n" not in got:
    d = c.recv(100)
    if not d:
        break
    got += d
print(got.hex())
' "$NP_PORT"
	# What came before "one" may be this peer's own refusal.
	[[ $output == *"$(np_hex 'one\n')" ]]
	run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	assert_output --partial 'three'
	refute_output --partial $'\xff'
	[[ $output != *one* ]]
}

@test "-i 1 sends lines in separate segments at least 0.9 s apart" {
	np_python_listen STREAM "$PY_CHUNKS"
	run --separate-stderr timeout 10 "${NP[@]}" -i 1 -N 127.0.0.1 \
	    "$PY_PORT" < <(printf 'one\ntwo\n')
	assert_success
	mapfile -t py <"$BATS_TEST_TMPDIR/py.out"
	assert_equal "${py[0]}" "$(np_hex 'one\n') $(np_hex 'two\n')"
	awk -v g="${py[1]}" 'BEGIN { exit !(g >= 0.9) }' ||
	    fail "lines only ${py[1]} s apart"
}

@test "--interval is accepted as the long spelling of -i" {
	np_python_listen STREAM "$READ_ALL"
	run --separate-stderr timeout 10 "${NP[@]}" --interval 1 -N 127.0.0.1 \
	    "$PY_PORT" <<<"paced"
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'paced\n')"
}

@test "-W 1 and --recv-limit 1 exit 0 after one read although the peer stays" {
	for flag in -W --recv-limit; do
		np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"first\n")
c.settimeout(5)
try:
    print("eof" if c.recv(100) == b"" else "data", flush=True)
except socket.timeout:
    print("peer stayed", flush=True)
'
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 1 -d \
		    127.0.0.1 "$PY_PORT"
		assert_success
		assert_output "first"
		np_wait_for "$BATS_TEST_TMPDIR/py.out" '.'
		assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "eof"
	done
}

@test "-d and --no-stdin send nothing from stdin and still print what arrives" {
	for flag in -d --no-stdin; do
		np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"hi\n")
c.shutdown(socket.SHUT_WR)
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
print(n, flush=True)
'
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 127.0.0.1 \
		    "$PY_PORT" <<<"must not be sent"
		assert_success
		assert_output "hi"
		np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+$'
		assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" 0
	done
}

@test "-N and --shutdown half-close after input EOF and still read the reply" {
	np_python_listen STREAM '
while True:
    c, _ = s.accept()
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    c.sendall(b"got %d\n" % n)
    c.close()
'
	for flag in -N --shutdown; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 127.0.0.1 \
		    "$PY_PORT" < <(printf 'abcd')
		assert_success
		assert_output "got 4"
	done
}

@test "-q 0 and --quit-after 0 quit once input is sent while the peer stays open" {
	np_python_listen STREAM '
import threading
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    print(data.hex(), flush=True)
'
	for flag in -q --quit-after; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 0 127.0.0.1 \
		    "$PY_PORT" < <(printf '%s' "$flag")
		assert_success
		np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$(np_hex "$flag")$"
	done
}

@test "-w 1 and --wait 1 end an idle connection with exit 0" {
	np_python_listen STREAM '
import threading
held = []
while True:
    c, _ = s.accept()
    held.append(c)
'
	for flag in -w --wait; do
		start=$(np_now)
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 1 -d \
		    127.0.0.1 "$PY_PORT"
		took=$(($(np_now) - start))
		assert_success
		((took >= 900)) || fail "$flag 1 ended after $took ms"
	done
}

@test "--keep-open listener takes a second python3 peer after the first leaves" {
	np_listen --keep-open 127.0.0.1 0
	for word in one two; do
		run timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(sys.argv[2].encode() + b"\n")
c.close()
' "$NP_PORT" "$word"
		assert_success
		np_wait_for "$BATS_TEST_TMPDIR/out" "^$word$"
	done
	kill -0 "$NP_PID"
}

@test "--listen, --source-port 0 and -l -p 0 listen on a kernel-chosen port" {
	local err=$BATS_TEST_TMPDIR/err out=$BATS_TEST_TMPDIR/out
	for args in "--listen 127.0.0.1 0" "--listen --source-port 0 127.0.0.1" \
	    "-l -p 0 127.0.0.1"; do
		: >"$err"
		# shellcheck disable=SC2086
		"${NP[@]}" -v $args </dev/null >"$out" 2>"$err" 3>&- &
		pid=$!
		np_track "$pid"
		np_wait_for "$err" '^Listening on 127\.0\.0\.1 [0-9]+$'
		port=$(awk '/^Listening on/ { print $NF }' "$err")
		((port > 0))
		run timeout 10 socat -u - "TCP:127.0.0.1:$port" <<<"$args"
		assert_success
		np_status "$pid"
		assert_equal "$NP_STATUS" 0
		assert_equal "$(cat "$out")" "$args"
	done
}

@test "--udp sends a datagram and --unix talks to a socat Unix listener" {
	np_python_listen DGRAM '
print(s.recv(65536).hex(), flush=True)
'
	run --separate-stderr timeout 10 "${NP[@]}" --udp -q 0 127.0.0.1 \
	    "$PY_PORT" <<<"udp"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$(np_hex 'udp\n')$"
	sock=$BATS_TEST_TMPDIR/s
	timeout 10 socat -u "UNIX-LISTEN:$sock" \
	    "CREATE:$BATS_TEST_TMPDIR/unix.out" </dev/null 3>&- &
	socat_pid=$!
	np_track "$socat_pid"
	np_wait_socket "$sock"
	run --separate-stderr timeout 10 "${NP[@]}" --unix -N "$sock" \
	    <<<"unix"
	assert_success
	np_status "$socat_pid"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/unix.out")" "unix"
}

@test "-4 and --ipv4 reach an IPv4 listener by name and refuse ::1" {
	np_python_listen STREAM "$READ_ALL"
	for flag in -4 --ipv4; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -v -N \
		    localhost "$PY_PORT" <<<"four"
		assert_success
		[[ $stderr == *"Connection to localhost $PY_PORT port "* ]] ||
		    fail "no connect line: $stderr"
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" \
		    "$(np_hex 'four\n')"
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -d ::1 \
		    "$PY_PORT"
		assert_failure 1
		[[ ${stderr_lines[0]} == "netpipe: getaddrinfo for host \"::1\" port $PY_PORT: "* ]] ||
		    fail "unexpected: $stderr"
	done
}

@test "-6 and --ipv6 reach an nc.openbsd listener on ::1 and refuse 127.0.0.1" {
	np_need_ipv6
	for flag in -6 --ipv6; do
		np_nc_listen -6 ::1 0
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -q 0 ::1 \
		    "$NC_PORT" <<<"six"
		assert_success
		np_wait_for "$BATS_TEST_TMPDIR/nc.out" '^six$'
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -d \
		    127.0.0.1 "$NC_PORT"
		assert_failure 1
		[[ ${stderr_lines[0]} == "netpipe: getaddrinfo for host \"127.0.0.1\" port $NC_PORT: "* ]] ||
		    fail "unexpected: $stderr"
	done
}

@test "-n and --numeric connect to a numeric address and do not resolve names" {
	np_python_listen STREAM "$READ_ALL"
	for flag in -n --numeric; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -N 127.0.0.1 \
		    "$PY_PORT" <<<"numeric"
		assert_success
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" \
		    "$(np_hex 'numeric\n')"
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -d localhost \
		    "$PY_PORT"
		assert_failure 1
		[[ ${stderr_lines[0]} == "netpipe: getaddrinfo for host \"localhost\" port $PY_PORT: "* ]] ||
		    fail "unexpected: $stderr"
	done
}

@test "-s and --source bind the source address the peer sees" {
	np_python_listen STREAM '
while True:
    c, a = s.accept()
    print(a[0], flush=True)
    c.close()
'
	for flag in -s --source; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 127.0.0.1 -d \
		    127.0.0.1 "$PY_PORT"
		assert_success
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" 127.0.0.1
		# 192.0.2.1 (TEST-NET-1) is no local address: bind fails
		# before any packet leaves.
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" 192.0.2.1 -d \
		    127.0.0.1 "$PY_PORT"
		assert_failure 1
		[[ $stderr == *"Cannot assign requested address"* ]] ||
		    fail "unexpected: $stderr"
	done
}

@test "-D, --debug, -m 1 and --min-ttl 1 are accepted on a TCP connection that delivers data" {
	np_python_listen STREAM "$READ_ALL"
	for flags in -D --debug "-m 1" "--min-ttl 1"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 10 "${NP[@]}" $flags -N 127.0.0.1 \
		    "$PY_PORT" <<<"$flags"
		assert_success
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/py.out")" \
		    "$(np_hex "$flags\\n")"
	done
}

@test "-b and --broadcast are accepted on a UDP client that delivers data" {
	np_python_listen DGRAM '
while True:
    print(s.recv(65536).hex(), flush=True)
'
	for flag in -b --broadcast; do
		run --separate-stderr timeout 10 "${NP[@]}" "$flag" -u -q 0 \
		    127.0.0.1 "$PY_PORT" <<<"$flag"
		assert_success
		np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$(np_hex "$flag\\n")$"
	done
}

@test "-m 255 on a listener drops a TTL 64 SYN; --ttl 255 gets through" {
	np_listen -m 255 127.0.0.1 0
	run --separate-stderr timeout 10 "${NP[@]}" -w 1 -d 127.0.0.1 "$NP_PORT"
	assert_failure 1
	assert_equal "${stderr_lines[0]}" \
	    "netpipe: connect to 127.0.0.1 port $NP_PORT (tcp) timed out: Operation now in progress (no answer in 1 s, -w)"
	run --separate-stderr timeout 10 "${NP[@]}" --ttl 255 -N 127.0.0.1 \
	    "$NP_PORT" <<<"high ttl"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/out" '^high ttl$'
}

@test "-M and --ttl set the TTL a python3 UDP peer sees" {
	np_python_listen DGRAM '
s.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL
while True:
    d, anc, _, _ = s.recvmsg(65536, 64)
    ttl = [int.from_bytes(v[:4], sys.byteorder) for l, t, v in anc if t == 2]
    print(d.decode().strip(), ttl[0] if ttl else "none", flush=True)
'
	run --separate-stderr timeout 10 "${NP[@]}" -M 7 -u -q 0 127.0.0.1 \
	    "$PY_PORT" <<<"short"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^short '
	run --separate-stderr timeout 10 "${NP[@]}" --ttl 9 -u -q 0 127.0.0.1 \
	    "$PY_PORT" <<<"long"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^long '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(printf 'short 7\nlong 9')"
}

@test "-T keywords and numbers set the TOS a python3 UDP peer sees; bogus is rejected" {
	np_python_listen DGRAM '
s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
while True:
    d, anc, _, _ = s.recvmsg(65536, 64)
    tos = [v[0] for l, t, v in anc if t == socket.IP_TOS]
    print(d.decode().strip(), tos[0] if tos else "none", flush=True)
'
	local expect=""
	for kv in lowdelay=16 throughput=8 reliability=4 af11=40 cs1=32 \
	    ef=184 0x10=16 16=16; do
		kw=${kv%=*}
		for flag in -T --tos; do
			run --separate-stderr timeout 10 "${NP[@]}" "$flag" "$kw" \
			    -u -q 0 127.0.0.1 "$PY_PORT" <<<"$flag$kw"
			assert_success
			np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$flag$kw "
			expect+="$flag$kw ${kv#*=}"$'\n'
		done
	done
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "${expect%$'\n'}"
	run --separate-stderr timeout 10 "${NP[@]}" -T bogus -u 127.0.0.1 \
	    "$PY_PORT"
	assert_failure 2
	assert_equal "${stderr_lines[0]}" 'netpipe: -T: "bogus" is invalid'
}

@test "-I/-O/-T and --recv-buf/--send-buf/--tos set SO_RCVBUF, SO_SNDBUF and IP_TOS as ss shows" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	for set in "-I 16384 -O 20000 -T lowdelay:rb32768:tb40000:tos:0x10" \
	    "--recv-buf 20000 --send-buf 16384 --tos af11:rb40000:tb32768:tos:0x28"; do
		flags=${set%%:*}
		np_python_listen STREAM '
c, _ = s.accept()
data = b""
while not data.endswith(b"done\n"):
    d = c.recv(65536)
    if not d:
        break
    data += d
print(data.hex(), flush=True)
c.close()
'
		exec 4<>"$BATS_TEST_TMPDIR/in"
		# shellcheck disable=SC2086
		"${NP[@]}" $flags 127.0.0.1 "$PY_PORT" <"$BATS_TEST_TMPDIR/in" \
		    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- 4>&- &
		pid=$!
		np_track "$pid"
		np_until 10 opt_ss_conn "$PY_PORT" ||
		    fail "$flags: no connection in ss: $OPT_SS"
		info=$OPT_SS
		rest=${set#*:}
		for want in "${rest%%:*}" "$(cut -d: -f2 <<<"$rest")" \
		    "tos:${rest##*:}"; do
			[[ $info == *"$want"[,\)\ ]* || $info == *"$want" ]] ||
			    fail "$flags: no $want in: $info"
		done
		printf 'done\n' >&4
		exec 4>&-
		np_status "$pid"
		assert_equal "$NP_STATUS" 0
		assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'done\n')"
	done
}

@test "-x, -X and -P (and long spellings) parse, then connect to the proxy (refused here: exit 1)" {
	np_closed_port
	for args in "-x 127.0.0.1:$CLOSED_PORT" \
	    "-X 4 -x 127.0.0.1:$CLOSED_PORT" \
	    "-X 5 -P alice -x 127.0.0.1:$CLOSED_PORT" \
	    "--proxy-type connect --proxy-user bob --proxy 127.0.0.1:$CLOSED_PORT"; do
		# -P takes its password before connecting; give it one.
		# shellcheck disable=SC2086
		run --separate-stderr env NETPIPE_PROXY_PASSWORD=unused \
		    timeout 10 "${NP[@]}" $args -d 127.0.0.1 "$CLOSED_PORT"
		assert_failure 1
		assert_output ""
		assert_equal "${stderr_lines[0]}" \
		    "netpipe: connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused"
	done
}

@test "--half-close keeps sending input after the python3 peer's EOF" {
	np_python_greeter "hi\\n"
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	"${NP[@]}" --half-close 127.0.0.1 "$PY_PORT" <"$BATS_TEST_TMPDIR/in" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- 4>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^hi$'
	printf 'late\n' >&4
	exec 4>&-
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '.'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'late\n')"
}

@test "-p afs3-bos -u works as -u -p afs3-bos does: a service name is looked up once -u is known" {
	# afs3-bos is 7007/udp only.  A fixed port, so in a network
	# namespace of the test's own, where no other test can hold it.
	getent services afs3-bos/udp >/dev/null || skip "no afs3-bos/udp"
	! getent services afs3-bos/tcp >/dev/null || skip "afs3-bos/tcp exists"
	unshare -n true 2>/dev/null || skip "cannot make a namespace here"
	cat >"$BATS_TEST_TMPDIR/ns.sh" <<'SH'
dir=$1
shift
ip link set lo up || exit 1
mkfifo "$dir/ns.port" || exit 1
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + "/ns.port", "w").write(str(s.getsockname()[1]))
for i in range(2):
    d, peer = s.recvfrom(100)
    print(peer[1], d.decode().strip(), flush=True)
' "$dir" >"$dir/ns.out" &
# The fifo's open waits for python's: the port, once it is bound.
port=$(timeout 10 cat "$dir/ns.port")
echo before | timeout 10 "$@" -p afs3-bos -u -q 0 127.0.0.1 "$port" || exit 2
echo after | timeout 10 "$@" -u -p afs3-bos -q 0 127.0.0.1 "$port" || exit 3
wait
cat "$dir/ns.out"
SH
	run -0 --separate-stderr timeout 30 unshare -n bash \
	    "$BATS_TEST_TMPDIR/ns.sh" "$BATS_TEST_TMPDIR" "${NP[@]}"
	assert_equal "$output" "$(printf '7007 before\n7007 after')"
}

@test "-S signs with TCP_MD5SIG: netpipe -S on both sides carry data; a peer without the key cannot connect" {
	export NETPIPE_MD5SIG_KEY=s3cret
	np_listen_exec -S 127.0.0.1 0
	run -1 --separate-stderr env -u NETPIPE_MD5SIG_KEY timeout 10 \
	    "${NP[@]}" -w 1 -d 127.0.0.1 "$NP_PORT"
	assert_equal "$stderr" \
	    "netpipe: connect to 127.0.0.1 port $NP_PORT (tcp) timed out: Operation now in progress (no answer in 1 s, -w)"
	run -1 --separate-stderr env NETPIPE_MD5SIG_KEY=other timeout 10 \
	    "${NP[@]}" -S -w 1 -d 127.0.0.1 "$NP_PORT"
	[[ $stderr == *"timed out"* ]]
	run -0 timeout 10 "${NP[@]}" --md5sig -N 127.0.0.1 "$NP_PORT" <<<signed
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" signed
}

# md5_py: python3 code that gives socket s the TCP_MD5SIG key in $KEY for
# any IPv4 peer: struct tcp_md5sig of <linux/tcp.h> with the prefix flag
# and a prefix of 0, through TCP_MD5SIG_EXT (32).
md5_py='
import os, struct
def md5sig(s, key):
    addr = struct.pack("=H", socket.AF_INET).ljust(128, b"\0")
    s.setsockopt(socket.IPPROTO_TCP, 32,
        addr + struct.pack("=BBHI", 1, 0, len(key), 0) + key.ljust(80, b"\0"))
md5sig(s, os.environb[b"KEY"])
'

@test "-S reaches a python3 listener that holds the same TCP_MD5SIG key, and is reached by a python3 client" {
	KEY=k3y np_python_listen STREAM "$md5_py
c, _ = s.accept()
print(c.recv(100).decode(), end='', flush=True)
"
	run -0 env NETPIPE_MD5SIG_KEY=k3y timeout 10 "${NP[@]}" -S -N \
	    127.0.0.1 "$PY_PORT" <<<"to python"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^to python$'
	NETPIPE_MD5SIG_KEY=k3y np_listen_exec -S 127.0.0.1 0
	run -0 env KEY=k3y timeout 10 python3 -c "
import socket, sys
s = socket.socket()
$md5_py
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'from python\n')
s.close()" "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "from python"
}

@test "-S without a key exits 1 naming NETPIPE_MD5SIG_KEY; with -u or -U it is a usage error" {
	# setsid: no controlling terminal to ask on.
	run -1 --separate-stderr env -u NETPIPE_MD5SIG_KEY setsid -w \
	    timeout 10 "${NP[@]}" -S 127.0.0.1 1 </dev/null
	assert_equal "$stderr" \
	    "netpipe: -S: no key: set NETPIPE_MD5SIG_KEY or run on a terminal"
	run -1 --separate-stderr env NETPIPE_MD5SIG_KEY= \
	    timeout 10 "${NP[@]}" -S 127.0.0.1 1 </dev/null
	assert_equal "$stderr" "netpipe: -S: the key must be 1 to 80 bytes"
	np_fails 2 'netpipe: -S and -u cannot be used together' -S -u 127.0.0.1 1
	np_fails 2 'netpipe: -S and -U cannot be used together' -S -U /x
}

@test "-V 0 is the main table; another routing table exits 1 saying Linux has none; -V x is a usage error" {
	np_python_listen STREAM 's.accept()'
	run -0 --separate-stderr timeout 10 "${NP[@]}" -V 0 -z 127.0.0.1 \
	    "$PY_PORT"
	np_fails 1 'netpipe: -V 1: Linux has no routing tables for sockets (rtable); only 0, the main table, is there' \
	    --rtable 1 127.0.0.1 "$PY_PORT"
	np_fails 2 'netpipe: -V: "x" is invalid' -V x 127.0.0.1 1
	np_fails 2 'netpipe: -V: "256" is too large' -V 256 127.0.0.1 1
}

@test "-Z is accepted, and where the kernel has no DCCP exits 1 saying so, before any socket" {
	if python3 -c '
import socket
socket.socket(socket.AF_INET, 6, 33)' 2>/dev/null; then
		skip "this kernel has DCCP"
	fi
	np_hold_ports o
	np_fails 1 'netpipe: -Z: this kernel has no DCCP: socket: Socket type not supported' \
	    -Z 127.0.0.1 "$HOLD_PORT"
	np_fails 1 'netpipe: -Z: this kernel has no DCCP: socket: Socket type not supported' \
	    --dccp -l 127.0.0.1 0
	np_fails 2 'netpipe: -Z and -u cannot be used together' -Z -u 127.0.0.1 1
	timeout 10 nc.openbsd -z 127.0.0.1 "$HOLD_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/hold.log" '^accept '
	assert_equal "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/hold.log")" 1
}

@test "every letter nc.openbsd -h lists is a letter netpipe takes" {
	local nc np
	nc=$(nc.openbsd -h 2>&1 | sed -nE 's/^\t+-([[:alnum:]]).*/\1/p' | sort)
	np=$("${NP[@]}" -h | sed -nE 's/^  -([[:alnum:]]),.*/\1/p' | sort)
	[ -n "$nc" ]
	assert_equal "$(comm -23 <(echo "$nc") <(echo "$np"))" ""
}

@test "-S talks to nc.openbsd -S, which reads the same key from its terminal; without -S nc.openbsd is out of reach" {
	local d=$BATS_TEST_TMPDIR
	# nc.openbsd asks for the key on /dev/tty only: give it a pty.
	python3 -c '
import os, pty, select, sys, time
d, key = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", "exec nc.openbsd -S -d -v -l 127.0.0.1 0 " +
        ">\"$0/nc.out\" 2>\"$0/nc.err\"", d])
seen, end = b"", time.monotonic() + 10
while b"password" not in seen.lower() and time.monotonic() < end:
    if select.select([fd], [], [], 0.5)[0]:
        seen += os.read(fd, 100)
os.write(fd, key.encode() + b"\n")
while True:
    try:
        if not os.read(fd, 100):
            break
    except OSError:
        break
print("exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
' "$d" "nc-key" >"$d/pty.out" 3>&- &
	np_track $!
	np_wait_for "$d/nc.err" '^Listening on '
	port=$(awk '/^Listening on/ { print $NF }' "$d/nc.err")
	run -1 --separate-stderr timeout 10 "${NP[@]}" -w 1 -d 127.0.0.1 "$port"
	[[ $stderr == *"timed out"* ]]
	run -0 env NETPIPE_MD5SIG_KEY=nc-key timeout 10 "${NP[@]}" -S -N \
	    127.0.0.1 "$port" <<<"signed for nc"
	np_wait_for "$d/pty.out" '^exit 0$'
	assert_equal "$(cat "$d/nc.out")" "signed for nc"
}
