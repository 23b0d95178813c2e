#!/usr/bin/env bats
# TCP client and listener against nc.openbsd, socat, python3 and netpipe
# itself: IPv4 and IPv6, names and numbers, source address and port, the
# listen syntaxes, -v messages, -k, busy ports, -w and refused connections.

load helpers

# python3 servers (run by np_python_listen with `s` listening).

# Print the address and port the client connected from, then close.
PY_PEER='
c, a = s.accept()
print(a[0], a[1], flush=True)
c.sendall(b"hello\n")
c.close()
'

# Send a line and close.
PY_HELLO='
c, a = s.accept()
c.sendall(b"hello\n")
c.close()
'

# Send a line, then hold the connection open without sending or closing.
PY_HOLD='
import time
c, a = s.accept()
c.sendall(b"hi\n")
time.sleep(30)
'

# Send five chunks 0.3 s apart (1.5 s in all, never 1 s idle), then close.
PY_TRICKLE='
import time
c, a = s.accept()
for i in range(5):
    c.sendall(b"chunk %d\n" % i)
    time.sleep(0.3)
c.close()
'

@test "client sends 4 MiB to an nc.openbsd listener intact" {
	local in out=$BATS_TEST_TMPDIR/nc.out
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	np_io "$in" /dev/null -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NC_PID"
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "listener receives 4 MiB from an nc.openbsd client intact" {
	local in out=$BATS_TEST_TMPDIR/out
	in=$(np_random_file in 4M)
	np_listen_exec 127.0.0.1 0
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "client reads from an nc.openbsd listener until it closes" {
	local in out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	np_io /dev/null "$out" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "listener with -N sends its input to an nc.openbsd client" {
	local in out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	NP_IN=$in np_listen_exec -N 127.0.0.1 0
	timeout 10 nc.openbsd 127.0.0.1 "$NP_PORT" </dev/null >"$out"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "--half-close listener and a socat client exchange 4 MiB both ways" {
	local a b got=$BATS_TEST_TMPDIR/got out=$BATS_TEST_TMPDIR/out
	a=$(np_random_file a 4M)
	b=$(np_random_file b 4M)
	NP_IN=$a np_listen_exec -N --half-close 127.0.0.1 0
	timeout 10 socat -t 10 "TCP:127.0.0.1:$NP_PORT,shut-down" STDIO \
	    <"$b" >"$got"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$got")" "$(np_sha "$a")"
	assert_equal "$(np_sha "$out")" "$(np_sha "$b")"
}

@test "client streams 4 MiB through a python3 echo server and gets it back" {
	local in out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	np_python_listen STREAM "$PY_ECHO"
	np_io "$in" "$out" -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "netpipe client and netpipe listener exchange 4 MiB both ways" {
	local a b got=$BATS_TEST_TMPDIR/got out=$BATS_TEST_TMPDIR/out
	a=$(np_random_file a 4M)
	b=$(np_random_file b 4M)
	NP_IN=$a np_listen_exec -N --half-close 127.0.0.1 0
	np_io "$b" "$got" -N --half-close 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$got")" "$(np_sha "$a")"
	assert_equal "$(np_sha "$out")" "$(np_sha "$b")"
}

@test "-6 listens on ::1 and a -6 client sends to it" {
	local in out=$BATS_TEST_TMPDIR/out
	np_need_ipv6
	in=$(np_random_file in 4M)
	np_listen_exec -6 ::1 0
	run grep -Ex "Listening on ::1 $NP_PORT" "$BATS_TEST_TMPDIR/listen.err"
	assert_success
	np_io "$in" /dev/null -6 -N ::1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "-6 client sends to an nc.openbsd listener on ::1" {
	local in out=$BATS_TEST_TMPDIR/nc.out
	np_need_ipv6
	in=$(np_random_file in 1M)
	np_nc_listen -6 -n ::1 0
	np_io "$in" /dev/null -v -6 -N ::1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	[[ $NP_STDERR == "Connection to ::1 $NC_PORT port [tcp/$(np_service "$NC_PORT")] succeeded!"* ]]
	np_status "$NC_PID"
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "nc.openbsd -6 client reaches a listener on ::1" {
	local out=$BATS_TEST_TMPDIR/out
	np_need_ipv6
	np_listen_exec ::1 0
	echo "over six" | timeout 10 nc.openbsd -6 -N ::1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" "over six"
	run grep -Ex 'Connection received on ::1 [0-9]+' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_success
}

@test "-4 with an IPv6 address fails to resolve (exit 1)" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -4 ::1 9
	[[ $stderr == 'netpipe: getaddrinfo for host "::1" port 9: '* ]]
}

@test "-6 with an IPv4 address fails to resolve (exit 1)" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -6 127.0.0.1 9
	[[ $stderr == 'netpipe: getaddrinfo for host "127.0.0.1" port 9: '* ]]
}

@test "client connects to a host name (localhost)" {
	np_python_listen STREAM "$PY_HELLO"
	run -0 timeout 10 "${NP[@]}" localhost "$PY_PORT" </dev/null
	assert_output "hello"
}

@test "-n connects to a numeric address" {
	np_python_listen STREAM "$PY_HELLO"
	run -0 timeout 10 "${NP[@]}" -n 127.0.0.1 "$PY_PORT" </dev/null
	assert_output "hello"
}

@test "-n with a host name fails without a lookup (exit 1)" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -n localhost 9 </dev/null
	assert_equal "$stderr" \
	    'netpipe: getaddrinfo for host "localhost" port 9: Name or service not known'
	assert_output ""
}

@test "an unknown service name for the port is a usage error" {
	run -2 --separate-stderr timeout 10 "${NP[@]}" 127.0.0.1 nosuchsvc </dev/null
	[[ $stderr == 'netpipe: port: "nosuchsvc" is not a number or a known service'* ]]
	[[ $stderr == *"usage: netpipe"* ]]
}

@test "a known service name (http) is parsed and used as port 80" {
	if python3 -c "
import socket
socket.create_connection(('127.0.0.1', 80), 1)" 2>/dev/null; then
		skip "something listens on 127.0.0.1 port 80"
	fi
	run -1 --separate-stderr timeout 10 "${NP[@]}" 127.0.0.1 http </dev/null
	[[ $stderr =~ ^netpipe:\ connect\ to\ 127\.0\.0\.1\ port\ (http|80)\ \(tcp\)\ failed:\ Connection\ refused$ ]]
}

@test "-s sets the source address the peer sees" {
	np_python_listen STREAM "$PY_PEER"
	run -0 timeout 10 "${NP[@]}" -s 127.0.0.2 127.0.0.1 "$PY_PORT" \
	    </dev/null
	assert_output "hello"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^127\.0\.0\.2 [0-9]+$'
}

@test "-s 127.0.0.2 -p PORT sets the source address and port" {
	np_python_listen STREAM "$PY_PEER"
	# The listener holds its port on 127.0.0.1 only, so on 127.0.0.2
	# that port is free, and no test running alongside can take it.
	run -0 timeout 10 "${NP[@]}" -s 127.0.0.2 -p "$PY_PORT" 127.0.0.1 \
	    "$PY_PORT" </dev/null
	assert_output "hello"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" "^127\.0\.0\.2 $PY_PORT\$"
}

@test "-s with an address this host does not have fails (exit 1)" {
	np_python_listen STREAM "$PY_HELLO"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -s 192.0.2.1 127.0.0.1 "$PY_PORT" \
	    </dev/null
	# nc.openbsd's words first, then which address and port.
	assert_equal "$stderr" \
	    "netpipe: bind failed: Cannot assign requested address (192.0.2.1 port 0)"
	assert_output ""
}

@test "-l ADDR 0 listens on a kernel-chosen port and takes a client" {
	np_listen_exec 127.0.0.1 0
	run grep -Ex "Listening on 127\.0\.0\.1 $NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_success
	echo one | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" one
}

@test "-l -p 0 ADDR listens (nc.openbsd's -p syntax)" {
	np_listen_exec -p 0 127.0.0.1
	run grep -Ex "Listening on 127\.0\.0\.1 $NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_success
	echo two | timeout 10 socat -u STDIN "TCP:127.0.0.1:$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" two
}

@test "-l -s ADDR -p 0 listens" {
	np_listen_exec -s 127.0.0.1 -p 0
	run grep -Ex "Listening on 127\.0\.0\.1 $NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_success
	echo three | timeout 10 "${NP[@]}" -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" three
}

@test "-w does not limit how long a listener waits for its first peer" {
	np_listen_exec -w 1 127.0.0.1 0
	# Still there after 1.5 s without a peer.
	np_alive_for "$NP_PID" 1500
	echo late | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" late
}

@test "-v prints Listening on, Connection received on and Connection to ... succeeded!" {
	local svc
	np_listen_exec 127.0.0.1 0
	svc=$(np_service "$NP_PORT")
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -N 127.0.0.1 "$NP_PORT" </dev/null
	assert_output ""
	[[ $stderr == "Connection to 127.0.0.1 $NP_PORT port [tcp/$svc] succeeded!"* ]]
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	run -0 head -n 2 "$BATS_TEST_TMPDIR/listen.err"
	assert_line -n 0 "Listening on 127.0.0.1 $NP_PORT"
	assert_line -n 1 --regexp '^Connection received on 127\.0\.0\.1 [0-9]+$'
}

@test "-v prints no transfer summary for a listener killed before any peer came" {
	np_listen_exec 127.0.0.1 0
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	assert_equal "$(cat "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on 127.0.0.1 $NP_PORT"
}

@test "-v and --stats print the summary of a connection made, also when a signal ends it" {
	np_listen_exec --stats 127.0.0.1 0
	timeout 10 nc.openbsd 127.0.0.1 "$NP_PORT" <<<"hello" >/dev/null &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/out" '^hello$'
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	run -0 grep -c '^netpipe: sent 0 B, received 6 B in ' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "-k serves three clients one after another" {
	local out=$BATS_TEST_TMPDIR/out i
	np_listen_exec -k 127.0.0.1 0
	for i in 1 2 3; do
		echo "client $i" |
		    timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
		np_wait_for "$out" "^client $i\$"
	done
	kill -0 "$NP_PID"
	assert_equal "$(cat "$out")" "$(printf 'client %s\n' 1 2 3)"
	run -0 grep -c '^Connection received on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 3
}

@test "a second listener on a busy port fails with Address already in use" {
	np_listen_exec 127.0.0.1 0
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l 127.0.0.1 "$NP_PORT" </dev/null
	assert_equal "$stderr" \
	    "netpipe: bind 127.0.0.1 port $NP_PORT: Address already in use"
	# The first listener still works.
	echo still | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" still
}

@test "a listener cannot share the port of a python3 listener" {
	np_python_listen STREAM "$PY_ECHO"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l 127.0.0.1 "$PY_PORT" </dev/null
	assert_equal "$stderr" \
	    "netpipe: bind 127.0.0.1 port $PY_PORT: Address already in use"
}

@test "-w gives up connecting to an unanswering port in nc.openbsd's words: timed out: Operation now in progress" {
	local t0 t1
	np_python_listen STREAM "$PY_BLACKHOLE"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^full$'
	t0=$(np_now)
	run -1 --separate-stderr timeout 10 "${NP[@]}" -w 1 127.0.0.1 \
	    "$PY_PORT" </dev/null
	t1=$(np_now)
	assert_equal "$stderr" \
	    "netpipe: connect to 127.0.0.1 port $PY_PORT (tcp) timed out: Operation now in progress (no answer in 1 s, -w)"
	((t1 - t0 >= 900 && t1 - t0 < 5000))
}

@test "-w ends an idle established connection with exit 0" {
	local t0 t1
	np_python_listen STREAM "$PY_HOLD"
	t0=$(np_now)
	run -0 --separate-stderr timeout 10 "${NP[@]}" -w 1 127.0.0.1 \
	    "$PY_PORT" </dev/null
	t1=$(np_now)
	assert_output "hi"
	assert_equal "$stderr" ""
	((t1 - t0 >= 900 && t1 - t0 < 5000))
}

@test "-w is an idle timeout, not a limit on a connection that keeps talking" {
	np_python_listen STREAM "$PY_TRICKLE"
	run -0 --separate-stderr timeout 10 "${NP[@]}" -w 1 127.0.0.1 \
	    "$PY_PORT" </dev/null
	assert_output "$(printf 'chunk %d\n' 0 1 2 3 4)"
}

@test "-k listener outlives a peer that resets and serves the next one" {
	local out=$BATS_TEST_TMPDIR/out
	np_listen_exec -k 127.0.0.1 0
	python3 -c "
import socket, struct, sys
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c.sendall(b'first\n')
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
c.close()" "$NP_PORT"
	echo second | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_wait_for "$out" '^second$'
	kill -0 "$NP_PID"
	run -0 grep -c '^Connection received on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 2
}

@test "a refused connection exits 1 with Connection refused" {
	np_closed_port
	run -1 --separate-stderr timeout 10 "${NP[@]}" 127.0.0.1 "$CLOSED_PORT" </dev/null
	assert_equal "$stderr" \
	    "netpipe: connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused"
	assert_output ""
}

# For each address argument, connect to it on port argv[1], print the
# client's own port, send a line with a NUL byte, half-close and wait for
# the listener to close: one short connection, as a -k listener serves.
PY_SHORT='
import socket, sys
port = int(sys.argv[1])
for dst in sys.argv[2:]:
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect((dst, port))
    print(c.getsockname()[1], flush=True)
    c.sendall(b"short\0" + dst.encode() + b"\n")
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096):
        pass
    c.close()
'

@test "-v names each peer by address and port: IPv4, IPv4 on a dual-stack listener, IPv6" {
	local err=$BATS_TEST_TMPDIR/listen.err ports
	np_need_ipv6
	np_listen -k 127.0.0.1 0
	ports=($(timeout 10 python3 -c "$PY_SHORT" "$NP_PORT" 127.0.0.1))
	np_wait_for "$err" '^Connection closed'
	run -0 grep '^Connection received on ' "$err"
	assert_output "Connection received on 127.0.0.1 ${ports[0]}"
	np_cleanup
	np_listen -k 0
	ports+=($(timeout 10 python3 -c "$PY_SHORT" "$NP_PORT" 127.0.0.1 ::1))
	np_until 10 [ "$(grep -c '^Connection closed' "$err")" -ge 2 ]
	run -0 grep '^Connection received on ' "$err"
	assert_output "Connection received on 127.0.0.1 ${ports[1]}
Connection received on ::1 ${ports[2]}"
	run -0 tr '\0' '|' <"$BATS_TEST_TMPDIR/out"
	assert_output "short|127.0.0.1
short|::1"
}

# np_traceable: skip unless strace can trace here.
np_traceable() {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -qq -o /dev/null true 2>/dev/null ||
	    skip "strace cannot trace here (ptrace is not permitted)"
}

# What a short connection does not need: getsockname, getsockopt and
# fcntl probes, which strace logs (-e trace=...) for the test below.
NP_PROBES=(-f -qq -e signal=none -e trace=getsockname,getsockopt,fcntl)

# tcp_traced_listen ARRAY ARGS...: netpipe ARGS under strace with the
# options in the array named ARRAY, logging to l.trace, its stderr in
# listen.err, its stdout in out.  Sets STRACE_PID, NP_PID (the tracee:
# strace, killed, may leave it running, so both are tracked) and NP_PORT.
tcp_traced_listen() {
	local -n opts=$1
	local err=$BATS_TEST_TMPDIR/listen.err
	shift
	: >"$err"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    strace "${opts[@]}" -o "$BATS_TEST_TMPDIR/l.trace" "${NP[@]}" "$@" \
	    </dev/null >"$BATS_TEST_TMPDIR/out" 2>"$err" 3>&- &
	STRACE_PID=$!
	np_track "$STRACE_PID"
	np_wait_for "$err" '^Listening on '
	NP_PID=$(pgrep -P "$STRACE_PID")
	np_track "$NP_PID"
	NP_PORT=$(sed -nE 's/^Listening on .* ([0-9]+)$/\1/p' "$err")
}

# The calls a -k listener makes for a short connection (issue 14).
NP_CONN_CALLS=(-f -qq -e signal=none -e trace=poll,ppoll,accept4,read,write,recvfrom,splice,setsockopt,getsockopt,ioctl,fcntl,close,shutdown,pipe2)

@test "a -k listener writing to a file takes a queued short connection in 8 calls: one poll, no setsockopt, SIOCATMARK or poll for the file" {
	local err=$BATS_TEST_TMPDIR/listen.err log=$BATS_TEST_TMPDIR/l.trace
	local spid
	np_traceable
	# A wrapper's own calls would be counted with netpipe's.
	[ -z "${NETPIPE_WRAP:-}" ] || skip "netpipe runs under $NETPIPE_WRAP"
	tcp_traced_listen NP_CONN_CALLS -n -v -k -l 127.0.0.1 0
	spid=$STRACE_PID
	np_queued "$NP_PORT" "$NP_PID" 'c.sendall(b"one\0\n")' \
	    'c.sendall(b"two\0\n")' 'c.sendall(b"three\0\n")'
	np_wait_for "$err" '^Connection closed' 10 3
	kill -TERM "$NP_PID"
	np_wait_exit "$spid" 10
	run -0 tr '\0' '|' <"$BATS_TEST_TMPDIR/out"
	assert_output "one|
two|
three|"
	# The listener's own socket reads urgent data inline, once.
	run -0 grep -c 'SO_OOBINLINE' "$log"
	assert_output 1
	# The second peer, from its accept4 to the next one: it was queued,
	# so no poll waits for it; one poll says its data and end are in.
	awk '/accept4\(/ && !/EAGAIN/ { n++ } n == 2' "$log" >"$log.2"
	run -0 grep -c . "$log.2"
	assert_output 8
	run -0 grep -c 'poll(' "$log.2"
	assert_output 1
	run -1 grep -E 'setsockopt|SIOCATMARK|fd=1, events=POLLOUT' "$log.2"
}

@test "a short connection costs no getsockname, SO_TYPE, IPV6_V6ONLY or stdio probe, client or -k listener" {
	local err=$BATS_TEST_TMPDIR/listen.err log=$BATS_TEST_TMPDIR/l.trace
	local in=$BATS_TEST_TMPDIR/in spid
	np_traceable
	# The listener asks getsockname once, to say where it listens; its
	# three peers, dual-stack (IPv6 sockets), ask nothing of the kind.
	tcp_traced_listen NP_PROBES -v -k -l 0
	spid=$STRACE_PID
	timeout 10 python3 -c "$PY_SHORT" "$NP_PORT" 127.0.0.1 127.0.0.1 \
	    127.0.0.1 >/dev/null
	np_until 10 [ "$(grep -c '^Connection closed' "$err")" -ge 3 ]
	kill -TERM "$NP_PID"
	np_wait_exit "$spid" 10
	run -0 grep -c '^Connection received on 127.0.0.1 ' "$err"
	assert_output 3
	run -0 grep -c 'getsockname(' "$log"
	assert_output 1
	run -1 grep -E 'SO_TYPE|IPV6_V6ONLY|F_GETFD' "$log"
	# A client, its peer nc.openbsd: no getsockname, SO_TYPE or F_GETFD.
	np_nc_listen 127.0.0.1 0
	printf 'client\0line\n' >"$in"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    timeout 10 strace "${NP_PROBES[@]}" -o "$BATS_TEST_TMPDIR/c.trace" \
	    "${NP[@]}" -N 127.0.0.1 "$NC_PORT" <"$in" >/dev/null
	np_wait_exit "$NC_PID" 10
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
	run -1 grep -E 'getsockname|SO_TYPE|F_GETFD' "$BATS_TEST_TMPDIR/c.trace"
}
