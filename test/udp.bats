#!/usr/bin/env bats
# UDP (-u): clients and listeners against python3, nc.openbsd and socat
# peers, datagram boundaries, peer locking, -k, ICMP errors, -W, -q, IPv6.

load helpers

@test "-u client sends its input to a python3 UDP server and prints the reply" {
	np_python_listen DGRAM '
d, a = s.recvfrom(65536)
print(d.hex(), flush=True)
s.sendto(b"pong\n", a)
'
	run --separate-stderr timeout 10 "${NP[@]}" -u -W 1 127.0.0.1 \
	    "$PY_PORT" <<<"ping"
	assert_success
	assert_output "pong"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'ping\n')"
}

@test "-u client delivers a datagram to an nc.openbsd -u -l listener" {
	np_nc_listen -u 127.0.0.1 0
	run --separate-stderr timeout 10 "${NP[@]}" -u -q 0 127.0.0.1 \
	    "$NC_PORT" <<<"hello nc"
	assert_success
	assert_output ""
	np_wait_for "$BATS_TEST_TMPDIR/nc.out" '^hello nc$'
}

@test "-u -v client and listener print Connection to ... [udp/SERVICE] and Bound on" {
	np_listen -u 127.0.0.1 0
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Bound on 127.0.0.1 $NP_PORT"
	run --separate-stderr timeout 10 "${NP[@]}" -v -u -q 0 127.0.0.1 \
	    "$NP_PORT" <<<"verbose"
	assert_success
	assert_equal "${stderr_lines[0]}" "Connection to 127.0.0.1 $NP_PORT port [udp/$(np_service "$NP_PORT" udp)] succeeded!"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^verbose$'
	# No probe bytes (nc.openbsd -v -u sends "XXXX") reach the peer.
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "verbose"
}

@test "-u -l writes a python3 client's datagram and answers that client" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen -u 127.0.0.1 0 4>&-
	run timeout 10 python3 -c '
import socket, sys, time
port, out, fifo = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.sendto(b"from python\n", ("127.0.0.1", port))
for _ in range(500):
    if b"from python\n" in open(out, "rb").read():
        break
    time.sleep(0.02)
with open(fifo, "w") as f:
    f.write("answer\n")
print(c.recv(65536).hex())
' "$NP_PORT" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	exec 4>&-
	assert_success
	assert_output "$(np_hex 'answer\n')"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "from python"
}

@test "-u -l writes what a socat UDP client sends" {
	np_listen -u 127.0.0.1 0
	run timeout 10 socat -u - "UDP:127.0.0.1:$NP_PORT" <<<"via socat"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/out" '^via socat$'
	kill -0 "$NP_PID"
}

@test "-u client sends one datagram per input chunk" {
	np_python_listen DGRAM '
while True:
    d = s.recv(65536)
    print(len(d), flush=True)
'
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	"${NP[@]}" -u -q 0 127.0.0.1 "$PY_PORT" <"$BATS_TEST_TMPDIR/in" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- 4>&- &
	pid=$!
	np_track "$pid"
	printf 'aaa' >&4
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^3$'
	printf 'bbbbbbb' >&4
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^7$'
	exec 4>&-
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(printf '3\n7')"
}

@test "-u client sends a 6000-byte regular file as one 6000-byte datagram" {
	np_python_listen DGRAM '
d = s.recv(65536)
print(len(d), flush=True)
'
	f=$(np_random_file in 6000)
	run --separate-stderr timeout 10 "${NP[@]}" -u -q 0 127.0.0.1 \
	    "$PY_PORT" <"$f"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" 6000
}

@test "-u -l writes datagrams of 1000, 2000 and 3000 bytes whole" {
	np_listen -u 127.0.0.1 0
	run timeout 10 python3 -c '
import socket, sys, os
port, expect = int(sys.argv[1]), sys.argv[2]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
all = b""
for n in (1000, 2000, 3000):
    d = os.urandom(n - 1) + b"\0"
    all += d
    c.sendto(d, ("127.0.0.1", port))
open(expect, "wb").write(all)
' "$NP_PORT" "$BATS_TEST_TMPDIR/expect"
	assert_success
	np_wait_size "$BATS_TEST_TMPDIR/out" 6000
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/out")" 6000
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/expect")"
	kill -0 "$NP_PID"
}

@test "-u -l writes a 65507-byte datagram whole" {
	np_listen -u 127.0.0.1 0
	run timeout 10 python3 -c '
import socket, sys, os
port, expect = int(sys.argv[1]), sys.argv[2]
d = os.urandom(65507)
open(expect, "wb").write(d)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(d, ("127.0.0.1", port))
' "$NP_PORT" "$BATS_TEST_TMPDIR/expect"
	assert_success
	np_wait_size "$BATS_TEST_TMPDIR/out" 65507
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/expect")"
}

@test "-u -l neither ends nor writes anything on a zero-length datagram" {
	np_listen -u 127.0.0.1 0
	run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"", ("127.0.0.1", int(sys.argv[1])))
c.sendto(b"after\n", ("127.0.0.1", int(sys.argv[1])))
' "$NP_PORT"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/out" '^after$'
	assert_equal "$(od -An -v -tx1 "$BATS_TEST_TMPDIR/out" | tr -d ' \n')" \
	    "$(np_hex 'after\n')"
	kill -0 "$NP_PID"
}

@test "-u -l without -k locks to the first peer and ignores a second sender" {
	np_listen -u 127.0.0.1 0
	run timeout 10 python3 -c '
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def wait(word):
    for _ in range(500):
        if word in open(out, "rb").read():
            return
        time.sleep(0.02)
    sys.exit("timed out waiting for %r" % word)
a.sendto(b"first\n", ("127.0.0.1", port))
wait(b"first\n")
b.sendto(b"intruder\n", ("127.0.0.1", port))
a.sendto(b"third\n", ("127.0.0.1", port))
wait(b"third\n")
' "$NP_PORT" "$BATS_TEST_TMPDIR/out"
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'first\nthird')"
	kill -0 "$NP_PID"
}

@test "-u -l -k takes datagrams from two python3 clients and replies to the last sender" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen -u -k 127.0.0.1 0 4>&-
	run timeout 10 python3 -c '
import socket, sys, time
port, out, fifo = int(sys.argv[1]), sys.argv[2], sys.argv[3]
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.settimeout(5)
b.settimeout(5)
f = open(fifo, "w")
def wait(word):
    for _ in range(500):
        if word in open(out, "rb").read():
            return
        time.sleep(0.02)
    sys.exit("timed out waiting for %r" % word)
a.sendto(b"from a\n", ("127.0.0.1", port))
wait(b"from a\n")
f.write("reply 1\n")
f.flush()
print("a got", a.recv(100))
b.sendto(b"from b\n", ("127.0.0.1", port))
wait(b"from b\n")
f.write("reply 2\n")
f.flush()
print("b got", b.recv(100))
a.setblocking(False)
try:
    print("a also got", a.recv(100))
except BlockingIOError:
    print("a got nothing more")
' "$NP_PORT" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	exec 4>&-
	assert_success
	assert_output - <<'EOF'
a got b'reply 1\n'
b got b'reply 2\n'
a got nothing more
EOF
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'from a\nfrom b')"
}

@test "-u client exits 1 with recv: Connection refused on ICMP port unreachable" {
	# The held port is bound and connected elsewhere, so the kernel
	# answers our datagrams with ICMP port unreachable.
	np_hold_ports c DGRAM
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	printf 'probe\n' >&4
	# stdin stays open: only the socket error may end netpipe, and
	# timeout would turn a busy loop into 124.
	run --separate-stderr timeout 10 "${NP[@]}" -u 127.0.0.1 "$HOLD_PORT" \
	    <"$BATS_TEST_TMPDIR/in" 4>&-
	exec 4>&-
	assert_failure 1
	assert_output ""
	[[ ${stderr_lines[0]} == "netpipe: recv: Connection refused" ||
	    ${stderr_lines[0]} == "netpipe: send: Connection refused" ]] ||
	    fail "unexpected stderr: $stderr"
}

@test "-u -l locked to a peer that went away exits 1 with recv: Connection refused" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen -u 127.0.0.1 0 4>&-
	run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"hi\n", ("127.0.0.1", int(sys.argv[1])))
c.close()
' "$NP_PORT"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/out" '^hi$'
	# The reply goes to the closed port: ICMP port unreachable on the
	# socket that is connected to that peer.
	printf 'reply\n' >&4
	np_status "$NP_PID"
	exec 4>&-
	assert_equal "$NP_STATUS" 1
	# -v ends with the transfer summary; the error is the line before.
	assert_equal "$(grep '^netpipe: recv' "$BATS_TEST_TMPDIR/listen.err")" \
	    "netpipe: recv: Connection refused"
}

@test "-u -l -k outlives a peer that went away and serves the next one" {
	python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)' 2>/dev/null ||
	    skip "no raw ICMP socket to see the port unreachable (needs CAP_NET_RAW)"
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen -u -k 127.0.0.1 0 4>&-
	run timeout 10 python3 -c '
import socket, struct, sys, time
port, out, fifo = int(sys.argv[1]), sys.argv[2], sys.argv[3]
f = open(fifo, "w")
def wait(word):
    for _ in range(500):
        if word in open(out, "rb").read():
            return
        time.sleep(0.02)
    sys.exit("timed out waiting for %r" % word)
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(5)
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.sendto(b"from a\n", ("127.0.0.1", port))
wait(b"from a\n")
aport = a.getsockname()[1]
a.close()
f.write("to the closed port\n")
f.flush()
# Wait for the ICMP port unreachable that answers netpipe, so that the
# reply has surely gone out before b sends.
while True:
    pkt = icmp.recv(2048)
    inner = pkt[(pkt[0] & 15) * 4:]
    if inner[0] != 3 or inner[1] != 3:
        continue
    ip = inner[8:]
    if struct.unpack("!HH", ip[(ip[0] & 15) * 4:][:4]) == (port, aport):
        break
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.settimeout(5)
b.sendto(b"from b\n", ("127.0.0.1", port))
wait(b"from b\n")
f.write("to b\n")
f.flush()
print(b.recv(100).decode().strip())
' "$NP_PORT" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	exec 4>&-
	assert_success
	assert_output "to b"
	kill -0 "$NP_PID"
}

@test "-u -l -W 2 exits 0 after two datagrams and writes only those" {
	np_listen -u -W 2 127.0.0.1 0
	run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for w in (b"one\n", b"two\n", b"three\n"):
    c.sendto(w, ("127.0.0.1", int(sys.argv[1])))
' "$NP_PORT"
	assert_success
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'one\ntwo')"
}

@test "-u -q 1 client keeps printing replies after input EOF, then exits 0" {
	np_python_listen DGRAM '
d, a = s.recvfrom(65536)
print(d.hex(), flush=True)
s.sendto(b"late reply\n", a)
'
	start=$(np_now)
	run --separate-stderr timeout 10 "${NP[@]}" -u -q 1 127.0.0.1 \
	    "$PY_PORT" <<<"question"
	took=$(($(np_now) - start))
	assert_success
	assert_output "late reply"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" \
	    "$(np_hex 'question\n')"
	((took >= 900)) || fail "-q 1 quit after ${took} ms"
}

@test "-u -w 1 client exits 0 after one idle second with no reply" {
	np_python_listen DGRAM '
while True:
    print(s.recv(65536).hex(), flush=True)
'
	start=$(np_now)
	run --separate-stderr timeout 10 "${NP[@]}" -u -w 1 127.0.0.1 \
	    "$PY_PORT" <<<"syslog line"
	took=$(($(np_now) - start))
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	((took >= 900)) || fail "-w 1 ended after $took ms"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$(np_hex 'syslog line\n')$"
}

@test "-6 -u carries datagrams over ::1 to a listener and from a client" {
	np_need_ipv6
	np_listen -6 -u ::1 0
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Bound on ::1 $NP_PORT"
	run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
c.sendto(b"python six\n", ("::1", int(sys.argv[1])))
' "$NP_PORT"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/out" '^python six$'
	np_nc_listen -6 -u ::1 0
	run --separate-stderr timeout 10 "${NP[@]}" -6 -u -q 0 ::1 \
	    "$NC_PORT" <<<"netpipe six"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/nc.out" '^netpipe six$'
}

@test "-u client sends a 300 KB regular file as datagrams of at most 65507 bytes, in order" {
	local f
	f=$(np_random_file in 300000)
	NP_DIR=$BATS_TEST_TMPDIR np_python_listen DGRAM '
# Room for all five datagrams, however late python3 gets to them.
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.settimeout(10)
got = b""
sizes = []
while len(got) < 300000:
    d = s.recv(65536)
    got += d
    sizes.append(len(d))
open(os.environ["NP_DIR"] + "/got", "wb").write(got)
print(max(sizes), len(sizes), flush=True)
'
	run --separate-stderr timeout 10 "${NP[@]}" -u -q 0 127.0.0.1 \
	    "$PY_PORT" <"$f"
	assert_success
	assert_equal "$stderr" ""
	np_status "$PY_PID"
	assert_equal "$NP_STATUS" 0
	# 300000 bytes in reads of at most 65507: five datagrams at least.
	read -r biggest count <"$BATS_TEST_TMPDIR/py.out"
	[ "$biggest" -le 65507 ] || fail "a datagram of $biggest bytes"
	[ "$count" -ge 5 ] || fail "only $count datagrams"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$f")"
}

# udp_burst_listen OUT ARGS...: a UDP listener under strace (recvmmsg,
# recvfrom, write, writev) writing to OUT; sets NP_PID and NP_PORT.
udp_burst_listen() {
	local out=$1 err=$BATS_TEST_TMPDIR/listen.err
	shift
	command -v strace >/dev/null || skip "strace is not installed"
	strace -qq -o /dev/null true 2>/dev/null ||
	    skip "strace cannot trace here (ptrace is not permitted)"
	: >"$err"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    strace -f -qq -yy -s 0 -e signal=none \
	    -e trace=recvmmsg,recvfrom,write,writev -o "$BATS_TEST_TMPDIR/trace" \
	    "${NP[@]}" -v -u -l "$@" 127.0.0.1 0 </dev/null >"$out" \
	    2>"$err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$err" '^Bound on '
	NP_PORT=$(sed -nE 's/^Bound on .* ([0-9]+)$/\1/p' "$err")
}

# udp_burst PORT N: send N datagrams of 1000 bytes (with NUL bytes) back to
# back; their concatenation goes to $BATS_TEST_TMPDIR/expect.
udp_burst() {
	timeout 10 python3 -c '
import socket, sys, os
port, n, expect = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
all = [os.urandom(999) + b"\0" for _ in range(n)]
for d in all:
    c.sendto(d, ("127.0.0.1", port))
open(expect, "wb").write(b"".join(all))
' "$1" "$2" "$BATS_TEST_TMPDIR/expect"
}

@test "-u -l takes a burst with recvmmsg(2), several datagrams a call, and writes a file with writev(2)" {
	local out=$BATS_TEST_TMPDIR/got trace=$BATS_TEST_TMPDIR/trace
	udp_burst_listen "$out" -W 300
	udp_burst "$NP_PORT" 300
	np_status "$NP_PID" 20
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$BATS_TEST_TMPDIR/expect")"
	# Each recvmmsg line ends "= N"; some call took more than one.
	run awk '/recvmmsg\(/ && $NF + 0 > 1 { n++ } END { print n + 0 }' \
	    "$trace"
	[ "$output" -ge 1 ] || fail "no recvmmsg(2) took two datagrams"
	# Only the peek that finds the first peer (sock_dgram_peer).
	run grep -c 'recvfrom(' "$trace"
	assert_output 1
	grep -q 'recvfrom(.*MSG_PEEK' "$trace" || fail "a recvfrom(2) took data"
	run grep -cE '^[0-9]+ +write\(1<' "$trace"
	assert_output 0
	grep -qE '^[0-9]+ +writev\(1<' "$trace" || fail "no writev(2) to stdout"
}

@test "--io send keeps one recvfrom(2) per datagram on a UDP listener" {
	local out=$BATS_TEST_TMPDIR/got trace=$BATS_TEST_TMPDIR/trace
	udp_burst_listen "$out" --io send -W 50
	udp_burst "$NP_PORT" 50
	np_status "$NP_PID" 20
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$BATS_TEST_TMPDIR/expect")"
	run grep -c 'recvmmsg(' "$trace"
	assert_output 0
	run awk '/recvfrom\(/ && $NF == 1000 { n++ } END { print n + 0 }' \
	    "$trace"
	assert_output 50
}

@test "-u -l writes each datagram of a burst with its own write(2) to a packet-mode pipe" {
	run --separate-stderr timeout 20 python3 -c '
import os, socket, subprocess, sys
cmd = sys.argv[1:]
r, w = os.pipe2(os.O_DIRECT)
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w,
    stderr=subprocess.PIPE)
os.close(w)
port = int(p.stderr.readline().split()[-1])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for m in (b"one", b"two\0", b"three", b"four"):
    c.sendto(m, ("127.0.0.1", port))
while True:
    d = os.read(r, 65536)
    if not d:
        break
    print(d)
print("exit", p.wait(timeout=10))
' "${NP[@]}" -v -u -l -W 4 127.0.0.1 0
	assert_success
	assert_output "$(printf '%s\n' "b'one'" "b'two\\x00'" "b'three'" \
	    "b'four'" 'exit 0')"
}

# shutdown_traced CMD...: run CMD under strace with stdin "over\n" and print
# the shutdown(2) calls it made, descriptors decoded (-yy).
shutdown_traced() {
	local trace=$BATS_TEST_TMPDIR/shutdown.trace
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    timeout 10 strace -f -qq -yy -e signal=none -e trace=shutdown \
	    -o "$trace" "$@" <<<over >/dev/null 2>&1 || return 1
	sed -E 's/^[0-9]+ +//' "$trace"
}

@test "-N on a UDP client calls shutdown(SHUT_WR) at input EOF, as nc.openbsd does" {
	strace -qq -o /dev/null true 2>/dev/null ||
	    skip "strace cannot trace here (ptrace is not permitted)"
	np_python_listen DGRAM '
while True:
    print(s.recv(65536).hex(), flush=True)
'
	local re='^shutdown\([0-9]+<UDP:\[127\.0\.0\.1:[0-9]+->127\.0\.0\.1:'$PY_PORT'\]>, SHUT_WR\) = 0$'
	run -0 shutdown_traced nc.openbsd -N -u -w 1 127.0.0.1 "$PY_PORT"
	assert_line --regexp "$re"
	run -0 shutdown_traced "${NP[@]}" -N -u -w 1 127.0.0.1 "$PY_PORT"
	assert_line --regexp "$re"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" "^$(np_hex 'over\n')$" 10 2
	# Without -N there is no shutdown, in either.
	run -0 shutdown_traced "${NP[@]}" -u -w 1 127.0.0.1 "$PY_PORT"
	refute_output --partial 'shutdown('
}
