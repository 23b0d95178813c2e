#!/usr/bin/env bats
# --allow, --deny, --allow-file and --deny-file: IPv4 and IPv6 addresses,
# CIDR prefixes and host names, deny winning over allow, refused peers
# closed at once and logged, bad rules refused as usage errors.

load helpers

# For each SRC,DST argument, connect from SRC to DST (IPv6 when DST has a
# colon) on port PORT and print what the listener sent before it closed:
# "welcome" when it let the peer in, "refused" when it did not.  One python3
# for many tries: starting python3 is the slow part.
PY_TRY='
import socket, sys
port = int(sys.argv[1])
for pair in sys.argv[2:]:
    src, dst = pair.split(",")
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(5)
    c.bind((src, 0))
    c.connect((dst, port))
    data = b""
    while True:
        try:
            d = c.recv(4096)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    c.close()
    print(data.decode().strip() or "refused", flush=True)
'

# np_try SRC,DST...: run PY_TRY against the listener on NP_PORT.
np_try() {
	timeout 10 python3 -c "$PY_TRY" "$NP_PORT" "$@"
}

# np_acl_listen ADDR RULES...: a -k listener that greets each peer it lets
# in with "welcome".
np_acl_listen() {
	local addr=$1
	shift
	np_listen_exec -k "$@" --sh-exec 'echo welcome' $addr 0
}

@test "--allow 127.0.0.1 lets that address in and refuses 127.0.0.2, logged with -v" {
	np_acl_listen 127.0.0.1 --allow 127.0.0.1
	run -0 np_try 127.0.0.1,127.0.0.1 127.0.0.2,127.0.0.1
	assert_output "welcome
refused"
	run -0 grep -E '^Connection from 127\.0\.0\.2 [0-9]+ refused$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	run -0 grep -c '^Connection received on ' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "--deny wins over an --allow prefix that also matches" {
	np_acl_listen 127.0.0.1 --allow 127.0.0.0/30 --deny 127.0.0.2
	# 127.0.0.5 is outside every --allow prefix.
	run -0 np_try 127.0.0.1,127.0.0.1 127.0.0.2,127.0.0.1 \
	    127.0.0.3,127.0.0.1 127.0.0.5,127.0.0.1
	assert_output "welcome
refused
welcome
refused"
}

@test "--deny alone refuses its prefix and lets everyone else in" {
	np_acl_listen 127.0.0.1 --deny 127.0.0.0/31
	run -0 np_try 127.0.0.1,127.0.0.1 127.0.0.2,127.0.0.1
	assert_output "refused
welcome"
}

@test "a listener without -k stays up after refusing nc.openbsd and serves the next peer" {
	np_listen_exec --deny 127.0.0.2 127.0.0.1 0
	run -0 --separate-stderr timeout 10 nc.openbsd -d -s 127.0.0.2 127.0.0.1 \
	    "$NP_PORT"
	assert_output ""
	kill -0 "$NP_PID"
	echo allowed | timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" allowed
}

@test "IPv6: --allow ::1 lets ::1 in; --deny ::1/128 refuses it" {
	np_need_ipv6
	np_acl_listen ::1 --allow ::1
	run -0 np_try ::1,::1
	assert_output welcome
	kill "$NP_PID"
	np_acl_listen ::1 --deny ::1/128
	run -0 np_try ::1,::1
	assert_output refused
	run -0 grep -E '^Connection from ::1 [0-9]+ refused$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "IPv6 prefixes: ::/120 covers ::1, fe80::/10 does not" {
	np_need_ipv6
	np_acl_listen ::1 --allow ::/120
	run -0 np_try ::1,::1
	assert_output welcome
	kill "$NP_PID"
	np_acl_listen ::1 --allow fe80::/10
	run -0 np_try ::1,::1
	assert_output refused
}

@test "a dual-stack listener judges IPv4 peers by their IPv4 address, not ::ffff:" {
	np_need_ipv6
	np_acl_listen "" --deny 127.0.0.0/8
	run -0 np_try 127.0.0.1,127.0.0.1 ::1,::1
	assert_output "refused
welcome"
	kill "$NP_PID"
	# A rule written as an IPv4-mapped prefix means the same addresses.
	np_acl_listen "" --allow ::ffff:127.0.0.0/104
	run -0 np_try 127.0.0.1,127.0.0.1 ::1,::1
	assert_output "welcome
refused"
}

@test "--allow with only an IPv4 rule refuses an IPv6 peer" {
	np_need_ipv6
	np_acl_listen "" --allow 127.0.0.1
	run -0 np_try ::1,::1 127.0.0.1,127.0.0.1
	assert_output "refused
welcome"
}

@test "a host name is resolved at startup: --allow localhost lets 127.0.0.1 in" {
	getent hosts localhost | grep -q '^127\.0\.0\.1 ' ||
	    skip "localhost does not resolve to 127.0.0.1 here"
	np_acl_listen 127.0.0.1 --allow localhost
	run -0 np_try 127.0.0.1,127.0.0.1 127.0.0.2,127.0.0.1
	assert_output "welcome
refused"
}

@test "a host name that does not resolve exits 1; with -n it is a usage error" {
	np_need_offline
	run -1 --separate-stderr np_offline timeout 10 "${NP[@]}" -l --allow no-such-host.invalid 0 </dev/null
	[[ $stderr == 'netpipe: --allow: getaddrinfo for host "no-such-host.invalid": '* ]]
	np_fails 2 'netpipe: --deny: "localhost" is not a numeric address (-n)' \
	    -n -l --deny localhost 0
}

@test "malformed rules are usage errors that name the option and the rule" {
	local spec
	for spec in 10.0.0.1/33 ::1/129 1.2.3 10.0.0.0/ /8 10.0.0.0/08 \
	    10.0.0.0/+8 '10.0.0.0/8 ' 'a b' 'host/24' 999.1.1.1 '::1%lo' \
	    1.2.3.4/-1 ''; do
		np_fails 2 "netpipe: --allow: \"$spec\" is invalid" \
		    -l --allow "$spec" 0
	done
	np_fails 2 'netpipe: --deny: "fe80::/200" is invalid' -l \
	    --deny fe80::/200 0
}

@test "--allow-file and --deny-file take one rule a line, with comments and blank lines" {
	printf '# trusted\n\n  127.0.0.0/29   # loopback\n' \
	    >"$BATS_TEST_TMPDIR/allow"
	printf '127.0.0.3\n# 127.0.0.4\n' >"$BATS_TEST_TMPDIR/deny"
	np_acl_listen 127.0.0.1 --allow-file "$BATS_TEST_TMPDIR/allow" \
	    --deny-file "$BATS_TEST_TMPDIR/deny"
	run -0 np_try 127.0.0.3,127.0.0.1 127.0.0.4,127.0.0.1 127.0.0.9,127.0.0.1
	assert_output "refused
welcome
refused"
}

@test "a bad line in --allow-file names the file and line; a missing file exits 1" {
	printf '127.0.0.1\nx/99\n' >"$BATS_TEST_TMPDIR/allow"
	np_fails 2 "netpipe: --allow-file: $BATS_TEST_TMPDIR/allow:2: \"x/99\" is invalid" \
	    -l --allow-file "$BATS_TEST_TMPDIR/allow" 0
	np_fails 1 "netpipe: --deny-file: $BATS_TEST_TMPDIR/nope: No such file or directory" \
	    -l --deny-file "$BATS_TEST_TMPDIR/nope" 0
}

@test "access rules need -l and have nothing to judge with -U; -u -k takes them" {
	np_fails 2 'netpipe: --allow requires -l' --allow 127.0.0.1 127.0.0.1 1
	np_fails 2 'netpipe: --deny and -U cannot be used together' -l -U \
	    --deny 127.0.0.1 "$BATS_TEST_TMPDIR/s"
	# -e and --max-conns still need --broker to tell -u -k peers apart.
	np_fails 2 'netpipe: -e and -u -k cannot be used together' \
	    -u -l -k --allow 127.0.0.1 -e cat 0
	np_fails 2 'netpipe: --max-conns and -u -k cannot be used together without --broker' \
	    -u -l -k --deny 127.0.0.2 --max-conns 2 0
	np_listen_exec -u -k --allow 127.0.0.1 127.0.0.1 0
	np_alive_for "$NP_PID" 200
}

@test "a UDP listener ignores datagrams from a denied python3 sender and locks to an allowed one" {
	np_listen_exec -u --deny 127.0.0.2 127.0.0.1 0
	run -0 timeout 10 python3 -c '
import socket, sys
port = int(sys.argv[1])
bad = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
bad.bind(("127.0.0.2", 0))
bad.sendto(b"denied\n", ("127.0.0.1", port))
good = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
good.bind(("127.0.0.1", 0))
good.sendto(b"allowed\n", ("127.0.0.1", port))
' "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^allowed$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" allowed
	run -0 grep -E '^Datagram from 127\.0\.0\.2 [0-9]+ refused$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

# The python3 side of the -u -k tests: peer(ADDR) is a UDP socket bound to
# ADDR on a port of its own, send(S, DATA) sends to the listener,
# wait(FILE, BYTES, COUNT) polls FILE (bounded, 10 s) until BYTES appears
# COUNT times, and quiet(S, NAME) says what S got within 0.3 s, if
# anything.  argv: the port, netpipe's stdout, its stderr, its stdin.
PY_UDPK='
import socket, sys, time
port, out, err, fifo = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def peer(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    s.settimeout(5)
    return s
def send(s, data):
    s.sendto(data, ("127.0.0.1", port))
def wait(path, what, count=1):
    for _ in range(500):
        if open(path, "rb").read().count(what) >= count:
            return
        time.sleep(0.02)
    sys.exit("timed out waiting for %r in %s" % (what, path))
def quiet(s, name):
    s.settimeout(0.3)
    try:
        print(name, "got", s.recv(100))
    except socket.timeout:
        print(name, "got nothing")
'

# np_udpk SCRIPT: run PY_UDPK, then SCRIPT, against the listener on NP_PORT.
np_udpk() {
	timeout 20 python3 -c "$PY_UDPK$1" "$NP_PORT" "$BATS_TEST_TMPDIR/out" \
	    "$BATS_TEST_TMPDIR/listen.err" "$BATS_TEST_TMPDIR/in"
}

@test "-u -l -k --deny drops a denied sender's datagrams, logs each with -v, and counts only the allowed" {
	np_listen_exec -u -k -W 2 --stats=json --deny 127.0.0.2 127.0.0.1 0
	# Two senders on two ports of 127.0.0.1, the denied one in between.
	run -0 np_udpk '
a, b, d = peer("127.0.0.1"), peer("127.0.0.1"), peer("127.0.0.2")
send(a, b"from a\n")
send(d, b"denied one\n")
send(d, b"denied two\n")
send(b, b"from b\n")
'
	# -W 2 ends it after the second datagram it took, not the second sent.
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'from a\nfrom b')"
	run -0 grep -cE '^Datagram from 127\.0\.0\.2 [0-9]+ refused$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 2
	run -0 grep -c '"received": 14,' "$BATS_TEST_TMPDIR/listen.err"
}

# udpk_replies ARGS...: a -u -k --deny 127.0.0.2 listener (with ARGS) reads
# replies from a fifo; each goes to the last allowed sender, never to the
# denied one that sent after it.
udpk_replies() {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	NP_IN=$BATS_TEST_TMPDIR/in np_listen_exec -u -k --deny 127.0.0.2 "$@" \
	    127.0.0.1 0 4>&-
	run np_udpk '
a, b, d = peer("127.0.0.1"), peer("127.0.0.1"), peer("127.0.0.2")
f = open(fifo, "w")
send(a, b"from a\n")
wait(out, b"from a\n")
send(d, b"from d\n")
wait(err, b"Datagram from 127.0.0.2 ", 1)
f.write("reply 1\n")
f.flush()
print("a got", a.recv(100))
quiet(d, "d")
send(b, b"from b\n")
wait(out, b"from b\n")
send(d, b"from d\n")
wait(err, b"Datagram from 127.0.0.2 ", 2)
f.write("reply 2\n")
f.flush()
print("b got", b.recv(100))
quiet(a, "a")
quiet(d, "d")
'
	exec 4>&-
	assert_success
	assert_output - <<'EOF'
a got b'reply 1\n'
d got nothing
b got b'reply 2\n'
a got nothing
d got nothing
EOF
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'from a\nfrom b')"
}

@test "-u -l -k --deny: replies go to the last allowed sender, never to a denied one after it" {
	udpk_replies
}

@test "-u -l -k --io send (recvfrom, not recvmmsg) drops denied datagrams and never answers them" {
	udpk_replies --io send
}

@test "-u -l -k --allow 127.0.0.1 drops 127.0.0.2 before and after the first allowed datagram" {
	np_listen_exec -u -k --allow 127.0.0.1 127.0.0.1 0
	run -0 np_udpk '
a, x = peer("127.0.0.1"), peer("127.0.0.2")
send(x, b"x before\n")
send(a, b"from a\n")
wait(out, b"from a\n")
send(x, b"x after\n")
send(a, b"again\n")
wait(out, b"again\n")
'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'from a\nagain')"
	run -0 grep -cE '^Datagram from 127\.0\.0\.2 [0-9]+ refused$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 2
}
