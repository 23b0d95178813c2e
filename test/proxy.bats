#!/usr/bin/env bats
# Connecting through proxies (-x, -X, -P) and passing the socket on (-F):
# real servers from Debian packages started here on loopback (danted for
# SOCKS4 and SOCKS5, microsocks for SOCKS5 with a user name and password,
# tinyproxy for HTTP CONNECT with Basic auth), and python3 fakes for
# the replies a real proxy will not give on demand.

load helpers

# The 16 MiB transfers get more time than a handshake needs; still bounded.
NP_TIMEOUT=30

# px_alive PID: true while PID runs (a zombie, exited but not yet reaped,
# counts as gone).
px_alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# px_wait_listen PID [PORT]: wait (bounded) until process PID listens on
# TCP PORT (on any port when PORT is empty) and set PX_PORT.  Returns 1
# at once when PID exits first.
px_wait_listen() {
	local pid=$1 want=${2:-}
	if ! np_until 10 px_settled "$pid" "$want"; then
		echo "process $pid is not listening after 10 s" >&2
		return 1
	fi
	px_alive "$pid" || return 1
	PX_PORT=$NP_SS_PORT
}

# px_settled PID WANT: PID has exited, or listens on port WANT (on any
# port when WANT is empty).
px_settled() {
	px_alive "$1" || return 0
	np_ss_port "$1" && { [ -z "$2" ] || [ "$NP_SS_PORT" = "$2" ]; }
}

# px_start NAME PORT CONF CMD...: run CMD in the foreground of a tracked
# background job with its output in $BATS_TEST_TMPDIR/NAME.log, after
# writing CONF (with @PORT@ replaced) to $BATS_TEST_TMPDIR/NAME.conf.
# PORT "free" takes a port that python3 found free just now, and tries
# once more with another one on EADDRINUSE (danted and tinyproxy cannot
# listen on port 0); PORT "0" lets the kernel choose.  Sets PX_PID and
# PX_PORT.
px_start() {
	local name=$1 port=$2 conf=$3 try log=$BATS_TEST_TMPDIR/$1.log
	shift 3
	for try in 1 2; do
		[ "$port" = 0 ] || port=$(np_free_port)
		printf '%s\n' "${conf//@PORT@/$port}" >"$BATS_TEST_TMPDIR/$name.conf"
		"$@" >"$log" 2>&1 3>&- &
		PX_PID=$!
		np_track "$PX_PID"
		if [ "$port" = 0 ]; then
			px_wait_listen "$PX_PID" && return 0
		else
			px_wait_listen "$PX_PID" "$port" && return 0
		fi
		grep -q 'Address already in use' "$log" || break
	done
	cat "$log" >&2
	return 1
}

# px_danted [WRAP...]: danted for SOCKS4 and SOCKS5 without
# authentication on 127.0.0.1, run through WRAP when given (px_hosts_ns);
# it refuses connections to 127.0.0.2 by rule.
px_danted() {
	px_start danted free "logoutput: stderr
internal: 127.0.0.1 port = @PORT@
external: 127.0.0.1
clientmethod: none
socksmethod: none
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks block { from: 0.0.0.0/0 to: 127.0.0.2/32 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }" \
	    "$@" danted -f "$BATS_TEST_TMPDIR/danted.conf" -N 1 \
	    -p "$BATS_TEST_TMPDIR/danted.pid"
}

# px_tinyproxy [WRAP...]: tinyproxy for HTTP CONNECT on 127.0.0.1, with
# Basic auth for alice:s3cret, run through WRAP when given.
px_tinyproxy() {
	px_start tinyproxy free "Port @PORT@
Listen 127.0.0.1
Timeout 20
MaxClients 20
LogLevel Info
BasicAuth alice s3cret" \
	    "$@" tinyproxy -d -c "$BATS_TEST_TMPDIR/tinyproxy.conf"
}

# px_microsocks [ADDR]: microsocks (SOCKS5, user alice, password s3cret)
# on ADDR (default 127.0.0.1), on a port the kernel chooses.
px_microsocks() {
	px_start microsocks 0 "" microsocks -i "${1:-127.0.0.1}" -p 0 \
	    -u alice -P s3cret
}

# A name that only the proxies know: .test is reserved (RFC 2606), so no
# DNS server knows it either.
PX_NAME=only-the-proxy.test

# px_hosts_ns: a command prefix (an array) that runs a proxy in a mount
# namespace of its own, where /etc/hosts maps PX_NAME to 127.0.0.1.  The
# proxy keeps its PID (unshare and sh exec), so teardown can kill it.
px_hosts_ns() {
	printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$PX_NAME" \
	    >"$BATS_TEST_TMPDIR/hosts"
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
	PX_NS=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"'
	    "$BATS_TEST_TMPDIR/hosts")
}

# px_no_dns ARGS...: `run` netpipe ARGS in a mount namespace whose only
# name server is 127.0.0.1, under strace, so that a lookup of any name
# stays on this machine and shows in $BATS_TEST_TMPDIR/trace.
px_no_dns() {
	printf 'nameserver 127.0.0.1\n' >"$BATS_TEST_TMPDIR/resolv.conf"
	# LeakSanitizer cannot run under ptrace; netpipe-san still checks
	# everything else here, and its leaks in the other tests.
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    run --separate-stderr timeout 20 unshare -m sh -c \
	    'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
	    "$BATS_TEST_TMPDIR/resolv.conf" strace -f -qq \
	    -o "$BATS_TEST_TMPDIR/trace" -e trace=connect,sendto,openat \
	    "${NP[@]}" "$@"
}

# px_no_lookup: the trace of px_no_dns shows no name lookup: neither
# /etc/hosts read nor a packet to port 53.
px_no_lookup() {
	if grep -E '"/etc/hosts"|htons\(53\)' "$BATS_TEST_TMPDIR/trace"; then
		fail "netpipe looked a name up itself"
	fi
}

# px_sshd: sshd in a mount namespace that sees px_hosts_ns's hosts file,
# and `ssh -D` to it, a SOCKS4, SOCKS4a and SOCKS5 proxy whose far side
# (sshd) resolves names.  Sets PX_PORT to the port of ssh -D.
px_sshd() {
	local t=$BATS_TEST_TMPDIR
	ssh-keygen -q -t ed25519 -N '' -f "$t/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$t/user_key"
	px_hosts_ns
	# shellcheck disable=SC2016 # $0 and $1 are the inner shell's
	px_start sshd free "ListenAddress 127.0.0.1:@PORT@
HostKey $t/host_key
AuthorizedKeysFile $t/user_key.pub
PermitRootLogin prohibit-password
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile none" \
	    unshare -m sh -c 'mount -t tmpfs tmpfs /run && mkdir /run/sshd &&
		mount --bind "$0" /etc/hosts && exec /usr/sbin/sshd -D -e -f "$1"' \
	    "$t/hosts" "$t/sshd.conf" || return 1
	px_start ssh free "Host proxy
HostName 127.0.0.1
Port $PX_PORT
User root
IdentityFile $t/user_key
IdentitiesOnly yes
BatchMode yes
StrictHostKeyChecking no
UserKnownHostsFile /dev/null
LogLevel ERROR
ExitOnForwardFailure yes
DynamicForward 127.0.0.1:@PORT@" \
	    ssh -N -F "$t/ssh.conf" proxy
}

# px_transfer PROXY_ARGS...: 16 MiB with NUL bytes up to an nc.openbsd
# listener through the proxy, then 16 MiB down from another one; both
# must arrive intact.
px_transfer() {
	local up down got=$BATS_TEST_TMPDIR/got
	up=$(np_nul_file up 16)
	down=$(np_random_file down 16M)
	np_nc_listen -n 127.0.0.1 0
	np_io "$up" /dev/null -N "$@" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	np_status "$NC_PID" 20
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$up")"
	NC_IN=$down NC_OUT=/dev/null np_nc_listen -N -n 127.0.0.1 0
	np_io /dev/null "$got" -d "$@" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(np_sha "$got")" "$(np_sha "$down")"
	rm -f "$up" "$down" "$got" "$BATS_TEST_TMPDIR/nc.out"
}

# px_fake SCRIPT: a python3 fake proxy on 127.0.0.1 (np_python_listen,
# with `s` the listening socket and helpers `readn(c, n)` and
# `read_request(c)`, which reads up to the empty line of an HTTP request).
# Sets PY_PORT.
px_fake() {
	np_python_listen STREAM "
def readn(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            break
        b += d
    return b
def read_request(c):
    b = b''
    while not b.endswith(b'\r\n\r\n'):
        d = c.recv(1)
        if not d:
            break
        b += d
    return b
$1"
}

@test "SOCKS5 through danted: 16 MiB each way arrive intact" {
	px_danted
	px_transfer -x "127.0.0.1:$PX_PORT"
}

@test "SOCKS4 through danted: 16 MiB each way arrive intact" {
	px_danted
	px_transfer -X 4 -x "127.0.0.1:$PX_PORT"
}

@test "SOCKS5 with -P through microsocks: 16 MiB each way arrive intact" {
	px_microsocks
	NETPIPE_PROXY_PASSWORD=s3cret px_transfer -P alice -x "127.0.0.1:$PX_PORT"
}

@test "HTTP CONNECT with -P through tinyproxy: 16 MiB each way arrive intact" {
	px_tinyproxy
	NETPIPE_PROXY_PASSWORD=s3cret px_transfer -X connect -P alice \
	    -x "127.0.0.1:$PX_PORT"
}

@test "-v through a proxy reports the destination, as nc.openbsd does" {
	px_danted
	NC_IN=<(printf 'hi\n') np_nc_listen -N -n 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -d \
	    -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$NC_PORT"
	assert_output "hi"
	assert_equal "${stderr_lines[0]}" \
	    "Connection to 127.0.0.1 $NC_PORT port [tcp/$(np_service "$NC_PORT")] succeeded!"
}

@test "SOCKS4 resolves a destination name itself; SOCKS5 hands it to danted" {
	px_danted
	local x
	for x in 4 5; do
		NC_IN=<(printf 'via %s\n' "$x") np_nc_listen -N -n 127.0.0.1 0
		run -0 --separate-stderr timeout 10 "${NP[@]}" -d -X "$x" \
		    -x "127.0.0.1:$PX_PORT" localhost "$NC_PORT"
		assert_output "via $x"
	done
}

@test "danted's refusals: SOCKS5 reply codes and SOCKS4 rejection, exit 1" {
	px_danted
	np_closed_port
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS5 connect to 127.0.0.1 port $CLOSED_PORT failed: Connection refused (reply 5)" \
	    -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$CLOSED_PORT"
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS5 connect to 127.0.0.2 port $CLOSED_PORT failed: Connection not allowed by ruleset (reply 2)" \
	    -x "127.0.0.1:$PX_PORT" 127.0.0.2 "$CLOSED_PORT"
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS4 connect to 127.0.0.1 port $CLOSED_PORT failed: Request rejected or failed" \
	    -X 4 -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$CLOSED_PORT"
}

@test "a proxy that is not listening is a connect failure naming the proxy" {
	np_closed_port
	np_fails 1 "netpipe: connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused" \
	    -x "127.0.0.1:$CLOSED_PORT" 127.0.0.1 9
}

@test "microsocks refuses a wrong password, and a missing -P, with exit 1" {
	px_microsocks
	NETPIPE_PROXY_PASSWORD=wrong np_fails 1 \
	    "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS5: authentication as \"alice\" failed" \
	    -P alice -x "127.0.0.1:$PX_PORT" 127.0.0.1 9
	np_fails 1 \
	    "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS5: no acceptable authentication method (the proxy may want -P)" \
	    -x "127.0.0.1:$PX_PORT" 127.0.0.1 9
}

@test "tinyproxy refuses a wrong password and a missing -P, and reports an unreachable destination" {
	px_tinyproxy
	np_closed_port
	NETPIPE_PROXY_PASSWORD=wrong np_fails 1 \
	    "netpipe: proxy 127.0.0.1 port $PX_PORT: CONNECT to 127.0.0.1 port $CLOSED_PORT failed: HTTP/1.0 401 Unauthorized (the proxy refused the user name or password)" \
	    -X connect -P alice -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$CLOSED_PORT"
	np_fails 1 \
	    "netpipe: proxy 127.0.0.1 port $PX_PORT: CONNECT to 127.0.0.1 port $CLOSED_PORT failed: HTTP/1.0 407 Proxy Authentication Required (the proxy wants a user name: use -P)" \
	    -X connect -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$CLOSED_PORT"
	NETPIPE_PROXY_PASSWORD=s3cret np_fails 1 \
	    "netpipe: proxy 127.0.0.1 port $PX_PORT: CONNECT to 127.0.0.1 port $CLOSED_PORT failed: HTTP/1.0 500 Unable to connect (the proxy failed, or could not reach the destination)" \
	    -X connect -P alice -x "127.0.0.1:$PX_PORT" 127.0.0.1 "$CLOSED_PORT"
}

@test "-P without NETPIPE_PROXY_PASSWORD and without a terminal exits 1 at once" {
	np_closed_port
	run -1 --separate-stderr env -u NETPIPE_PROXY_PASSWORD setsid -w \
	    timeout 10 "${NP[@]}" -P alice -x "127.0.0.1:$CLOSED_PORT" \
	    127.0.0.1 9 </dev/null
	assert_output ""
	assert_equal "$stderr" "netpipe: proxy 127.0.0.1 port $CLOSED_PORT: -P alice: no password: set NETPIPE_PROXY_PASSWORD or run on a terminal"
}

@test "-P reads the password from the terminal, and microsocks lets the data through" {
	px_microsocks
	np_nc_listen -n 127.0.0.1 0
	printf 'hello\n' >"$BATS_TEST_TMPDIR/in"
	# netpipe's stderr stays on the terminal: a pty whose last slave
	# descriptor closes hangs up, and /dev/tty would then fail.
	run -0 env -u NETPIPE_PROXY_PASSWORD timeout 20 python3 -c '
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", "exec \"$@\" <\"$0\" >/dev/null",
        sys.argv[1]] + sys.argv[2:])
def until(want):
    got = b""
    end = time.monotonic() + 10
    while want not in got and time.monotonic() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                d = os.read(fd, 1024)
            except OSError:
                break
            if not d:
                break
            got += d
    return got.decode().replace("\r", "").strip()
print(until(b"password"))
os.write(fd, b"s3cret\n")
print("after:" + until(b"never"))
_, st = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(st))
' "$BATS_TEST_TMPDIR/in" "${NP[@]}" -N -P alice -x "127.0.0.1:$PX_PORT" \
	    127.0.0.1 "$NC_PORT"
	assert_output "Proxy password for alice@127.0.0.1:
after:
exit 0"
	np_status "$NC_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/nc.out")" "hello"
}

@test "-x [::1]:port reaches an IPv6 proxy, which reaches an IPv6 destination" {
	np_need_ipv6
	px_microsocks ::1
	NC_IN=<(printf 'over six\n') np_nc_listen -N -n -6 ::1 0
	NETPIPE_PROXY_PASSWORD=s3cret run -0 --separate-stderr timeout 10 \
	    "${NP[@]}" -d -P alice -x "[::1]:$PX_PORT" ::1 "$NC_PORT"
	assert_output "over six"
	assert_equal "$stderr" ""
}

@test "a proxy that closes mid-handshake: exit 1 with a message, SOCKS5 and HTTP" {
	px_fake '
for reply in (b"", b"HTTP/1.0 200 OK\r\nX-Half: yes\r\n"):
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(reply)
    c.close()
'
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: the proxy closed the connection during the handshake" \
	    -w 5 -x "127.0.0.1:$PY_PORT" 127.0.0.1 9
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: the proxy closed the connection during the handshake" \
	    -w 5 -X connect -x "127.0.0.1:$PY_PORT" 127.0.0.1 9
}

@test "a proxy that never answers is given up after -w seconds, exit 1" {
	px_fake '
import time
c, _ = s.accept()
time.sleep(30)
'
	local t0 t1
	t0=$(np_now)
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: no answer from the proxy within 1 s" \
	    -w 1 -X connect -x "127.0.0.1:$PY_PORT" 127.0.0.1 9
	t1=$(np_now)
	((t1 - t0 >= 900 && t1 - t0 < 5000)) ||
	    fail "gave up after $((t1 - t0)) ms, not about 1 s"
}

@test "an HTTP proxy's error status, and a reply that is not HTTP, exit 1 with the line" {
	px_fake '
for reply in (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n"):
    c, _ = s.accept()
    read_request(c)
    c.sendall(reply)
    c.close()
'
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: CONNECT to example.org port 443 failed: HTTP/1.1 403 Forbidden (the proxy does not allow this destination)" \
	    -w 5 -X connect -x "127.0.0.1:$PY_PORT" example.org 443
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: not an HTTP proxy: it answered \"SSH-2.0-OpenSSH_9.2\"" \
	    -w 5 -X connect -x "127.0.0.1:$PY_PORT" example.org 443
}

@test "an HTTP proxy that sends headers without end is cut off, exit 1" {
	px_fake '
c, _ = s.accept()
read_request(c)
c.sendall(b"HTTP/1.0 200 OK\r\n" + b"X-Filler: y\r\n" * 100)
c.recv(1)
'
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: more than 64 header lines in the reply" \
	    -w 5 -X connect -x "127.0.0.1:$PY_PORT" 127.0.0.1 9
}

@test "every SOCKS5 reply code is reported in words, exit 1" {
	px_fake '
for code in range(1, 10):
    c, _ = s.accept()
    readn(c, 3)
    c.sendall(b"\x05\x00")
    readn(c, 10)
    c.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    c.close()
'
	local code msg
	for code in 1 2 3 4 5 6 7 8 9; do
		case $code in
		1) msg="General SOCKS server failure" ;;
		2) msg="Connection not allowed by ruleset" ;;
		3) msg="Network unreachable" ;;
		4) msg="Host unreachable" ;;
		5) msg="Connection refused" ;;
		6) msg="TTL expired" ;;
		7) msg="Command not supported" ;;
		8) msg="Address type not supported" ;;
		9) msg="Unknown error" ;;
		esac
		np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: SOCKS5 connect to 10.1.2.3 port 80 failed: $msg (reply $code)" \
		    -w 5 -x "127.0.0.1:$PY_PORT" 10.1.2.3 80
	done
}

@test "SOCKS5 sends a name as a name (remote DNS) and addresses as addresses; -n refuses a name" {
	px_fake '
for _ in range(3):
    c, _ = s.accept()
    readn(c, 3)
    c.sendall(b"\x05\x00")
    head = readn(c, 4)
    if head[3] == 1:
        addr = readn(c, 4)
    elif head[3] == 4:
        addr = readn(c, 16)
    else:
        n = readn(c, 1)
        addr = n + readn(c, n[0])
    port = readn(c, 2)
    print((head + addr + port).hex(), flush=True)
    c.sendall(b"\x05\x00\x00\x01" + bytes(6) + b"ok\n")
    c.close()
'
	local target
	for target in "proxy-only.example 8080" "192.0.2.7 80" "2001:db8::1 443"; do
		# shellcheck disable=SC2086
		run -0 --separate-stderr timeout 10 "${NP[@]}" -d \
		    -x "127.0.0.1:$PY_PORT" $target
		assert_output "ok"
		assert_equal "$stderr" ""
	done
	np_status "$PY_PID"
	run -0 cat "$BATS_TEST_TMPDIR/py.out"
	assert_line --index 0 "0501000312$(printf proxy-only.example | od -An -v -tx1 | tr -d ' \n')1f90"
	assert_line --index 1 "05010001c00002070050"
	assert_line --index 2 "0501000420010db800000000000000000000000101bb"
	np_fails 1 'netpipe: getaddrinfo for host "proxy-only.example" port 8080: Name or service not known' \
	    -n -x "127.0.0.1:$PY_PORT" proxy-only.example 8080
}

@test "HTTP CONNECT: brackets for IPv6, Basic credentials, and bytes after the proxy's headers reach the output" {
	px_fake '
c, _ = s.accept()
print(read_request(c).decode().replace("\r\n", "|"), flush=True)
c.sendall(b"HTTP/1.1 200 Connection established\r\nProxy-agent: fake\r\n\r\nfrom beyond\n")
c.close()
'
	NETPIPE_PROXY_PASSWORD=s3cret run -0 --separate-stderr timeout 10 \
	    "${NP[@]}" -d -X connect -P alice -x "127.0.0.1:$PY_PORT" \
	    2001:db8::1 443
	assert_output "from beyond"
	assert_equal "$stderr" ""
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" \
	    "CONNECT [2001:db8::1]:443 HTTP/1.0|Host: [2001:db8::1]:443|Proxy-Authorization: Basic $(printf alice:s3cret | base64)||"
}

@test "-F passes the connected socket over a Unix socket on stdout, directly and through a proxy" {
	px_danted
	local via
	for via in "" "-x 127.0.0.1:$PX_PORT"; do
		NC_IN=<(printf 'from listener\n') np_nc_listen -N -n 127.0.0.1 0
		# shellcheck disable=SC2086
		run -0 timeout 10 python3 -c '
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=b)
b.close()
msg, fds, _, _ = socket.recv_fds(a, 16, 1)
s = socket.socket(fileno=fds[0])
print("blocking" if s.getblocking() else "non-blocking")
s.sendall(b"through the passed fd\n")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got.decode().strip())
print("exit", p.wait())
' "${NP[@]}" -F $via 127.0.0.1 "$NC_PORT"
		assert_output "blocking
from listener
exit 0"
		np_status "$NC_PID"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/nc.out")" \
		    "through the passed fd"
	done
}

@test "-F refuses a stdout that is not a Unix socket, exit 1" {
	np_nc_listen -n 127.0.0.1 0
	run -1 --separate-stderr bash -c 'set -o pipefail; timeout 10 "$@" | cat' _ "${NP[@]}" \
	    -F 127.0.0.1 "$NC_PORT"
	assert_output ""
	assert_equal "$stderr" \
	    "netpipe: -F: standard output is not a Unix-domain socket"
}

@test "-x with -z, and -F with -l, -z, -e or --tls, cannot be used together" {
	np_fails 2 'netpipe: -x and -z cannot be used together' \
	    -z -x localhost 127.0.0.1 1
	np_fails 2 'netpipe: -F and -l cannot be used together' \
	    -F -l 127.0.0.1 1
	np_fails 2 'netpipe: -F and -z cannot be used together' \
	    -F -z 127.0.0.1 1
	np_fails 2 'netpipe: -F and -e cannot be used together' \
	    -F -e cat 127.0.0.1 1
	np_fails 2 'netpipe: -F and --tls cannot be used together' \
	    -F --tls 127.0.0.1 1
}

@test "--tls through danted: the TLS session runs end to end over the SOCKS5 tunnel" {
	local in got=$BATS_TEST_TMPDIR/got
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$BATS_TEST_TMPDIR/k.pem" -out "$BATS_TEST_TMPDIR/c.pem" \
	    -days 1 -subj /CN=localhost \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
	in=$(np_nul_file in 4)
	NP_OUT=$got np_listen --tls --tls-cert "$BATS_TEST_TMPDIR/c.pem" \
	    --tls-key "$BATS_TEST_TMPDIR/k.pem" 127.0.0.1 0
	px_danted
	run -0 --separate-stderr timeout 20 "${NP[@]}" -v -N --tls \
	    --tls-ca "$BATS_TEST_TMPDIR/c.pem" -x "127.0.0.1:$PX_PORT" \
	    localhost "$NP_PORT" <"$in"
	[[ $stderr == *"TLS peer /CN=localhost SHA256:"* ]]
	np_wait_exit "$NP_PID"
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "-X 4a and --proxy-dns hand the name to a SOCKS4a proxy (ssh -D), which resolves it; netpipe looks nothing up" {
	px_sshd
	local how
	for how in "-X 4a" "-X 4 --proxy-dns"; do
		NC_IN=<(printf 'via %s\n' "$how") np_nc_listen -N -n 127.0.0.1 0
		# shellcheck disable=SC2086
		px_no_dns -d $how -x "127.0.0.1:$PX_PORT" "$PX_NAME" "$NC_PORT"
		assert_success
		assert_output "via $how"
		assert_equal "$stderr" ""
		px_no_lookup
	done
	# The check can fail: plain SOCKS4 must look the name up here.
	px_no_dns -d -w 5 -X 4 -x "127.0.0.1:$PX_PORT" "$PX_NAME" "$NC_PORT"
	assert_failure 1
	grep -q 'htons(53)' "$BATS_TEST_TMPDIR/trace"
}

@test "SOCKS5 hands a name to danted, which resolves it, by default and with --proxy-dns; danted refuses SOCKS4a" {
	px_hosts_ns
	px_danted "${PX_NS[@]}"
	local how
	for how in "" "--proxy-dns"; do
		NC_IN=<(printf 'via socks5 %s\n' "$how") np_nc_listen -N -n 127.0.0.1 0
		# shellcheck disable=SC2086
		px_no_dns -d $how -x "127.0.0.1:$PX_PORT" "$PX_NAME" "$NC_PORT"
		assert_success
		assert_output "via socks5 $how"
		assert_equal "$stderr" ""
		px_no_lookup
	done
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PX_PORT: SOCKS4 connect to $PX_NAME port $NC_PORT failed: Request rejected or failed" \
	    -w 5 -X 4a -x "127.0.0.1:$PX_PORT" "$PX_NAME" "$NC_PORT"
}

@test "HTTP CONNECT hands a name to tinyproxy, which resolves it, by default and with --proxy-dns" {
	px_hosts_ns
	px_tinyproxy "${PX_NS[@]}"
	local how
	for how in "" "--proxy-dns"; do
		NC_IN=<(printf 'via connect %s\n' "$how") np_nc_listen -N -n 127.0.0.1 0
		# shellcheck disable=SC2086
		NETPIPE_PROXY_PASSWORD=s3cret px_no_dns -d $how -X connect \
		    -P alice -x "127.0.0.1:$PX_PORT" "$PX_NAME" "$NC_PORT"
		assert_success
		assert_output "via connect $how"
		assert_equal "$stderr" ""
		px_no_lookup
	done
}

@test "SOCKS4a sends 0.0.0.1, the user id and the name; an address goes as SOCKS4 does it" {
	px_fake '
def readz(c):
    b = b""
    while not b.endswith(b"\0"):
        b += readn(c, 1)
    return b
for names in (2, 1):
    c, _ = s.accept()
    head = readn(c, 8)
    rest = b"".join(readz(c) for _ in range(names))
    print((head + rest).hex(), flush=True)
    c.sendall(bytes([0, 90]) + bytes(6) + b"ok\n")
    c.close()
'
	run -0 --separate-stderr timeout 10 "${NP[@]}" -d -X 4a -P alice \
	    -x "127.0.0.1:$PY_PORT" proxy-only.example 8080
	assert_output "ok"
	run -0 --separate-stderr timeout 10 "${NP[@]}" -d -X 4a \
	    -x "127.0.0.1:$PY_PORT" 192.0.2.7 80
	assert_output "ok"
	np_status "$PY_PID"
	run -0 cat "$BATS_TEST_TMPDIR/py.out"
	assert_line --index 0 "04011f9000000001$(printf 'alice\0proxy-only.example\0' | od -An -v -tx1 | tr -d ' \n')"
	assert_line --index 1 "04010050c000020700"
}

@test "--proxy-dns needs -x; SOCKS4a cannot reach an IPv6 address; -X takes 4a" {
	np_fails 2 'netpipe: --proxy-dns requires -x' --proxy-dns 127.0.0.1 9
	np_fails 1 'netpipe: 2001:db8::1: SOCKS4 cannot reach an IPv6 address' \
	    -X 4a -x 127.0.0.1:9 2001:db8::1 80
	np_fails 2 'netpipe: -X: "4b" is invalid' -X 4b -x 127.0.0.1:9 h 80
}
