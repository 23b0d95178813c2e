#!/usr/bin/env bats
# Malformed command lines (exit 2 with the usage text), runtime failures
# (exit 1), and starting with stdin, stdout or stderr closed.

load helpers

@test "-w rejects 80x, 0 and the empty string" {
	np_fails 2 'netpipe: -w: "80x" is invalid' -w 80x 127.0.0.1 1
	np_fails 2 'netpipe: -w: "0" is too small' -w 0 127.0.0.1 1
	np_fails 2 'netpipe: -w: "" is invalid' -w '' 127.0.0.1 1
}

@test "-i rejects 80x and -1" {
	np_fails 2 'netpipe: -i: "80x" is invalid' -i 80x 127.0.0.1 1
	np_fails 2 'netpipe: -i: "-1" is too small' -i -1 127.0.0.1 1
}

@test "-q rejects 1x and the empty string" {
	np_fails 2 'netpipe: -q: "1x" is invalid' -q 1x 127.0.0.1 1
	np_fails 2 'netpipe: -q: "" is invalid' -q '' 127.0.0.1 1
}

@test "-I rejects 99999999999 as too large, 0 as too small and 8k" {
	np_fails 2 'netpipe: -I: "99999999999" is too large' \
	    -I 99999999999 127.0.0.1 1
	np_fails 2 'netpipe: -I: "0" is too small' -I 0 127.0.0.1 1
	np_fails 2 'netpipe: -I: "8k" is invalid' -I 8k 127.0.0.1 1
}

@test "-O rejects -1 and 99999999999" {
	np_fails 2 'netpipe: -O: "-1" is too small' -O -1 127.0.0.1 1
	np_fails 2 'netpipe: -O: "99999999999" is too large' \
	    -O 99999999999 127.0.0.1 1
}

@test "-M rejects 256 and 0" {
	np_fails 2 'netpipe: -M: "256" is too large' -M 256 127.0.0.1 1
	np_fails 2 'netpipe: -M: "0" is too small' -M 0 127.0.0.1 1
}

@test "-m rejects abc and 256" {
	np_fails 2 'netpipe: -m: "abc" is invalid' -m abc 127.0.0.1 1
	np_fails 2 'netpipe: -m: "256" is too large' -m 256 127.0.0.1 1
}

@test "-W rejects a count of -1 and 0, and 2x" {
	np_fails 2 'netpipe: -W: "-1" is too small' -W -1 127.0.0.1 1
	np_fails 2 'netpipe: -W: "0" is too small' -W 0 127.0.0.1 1
	np_fails 2 'netpipe: -W: "2x" is invalid' -W 2x 127.0.0.1 1
}

@test "-p rejects 80x, 65536 and -1" {
	np_fails 2 'netpipe: -p: "80x" is not a number or a known service' \
	    -p 80x 127.0.0.1 1
	np_fails 2 'netpipe: -p: "65536" is too large' -p 65536 127.0.0.1 1
	np_fails 2 'netpipe: -p: "-1" is too small' -p -1 127.0.0.1 1
}

@test "destination port 0 is too small, also for -z" {
	np_fails 2 'netpipe: port: "0" is too small' 127.0.0.1 0
	np_fails 2 'netpipe: port: "0" is too small' -z 127.0.0.1 0
}

@test "-z rejects a range that ends above 65535" {
	np_fails 2 'netpipe: port: "65536" is too large' -z 127.0.0.1 1-65536
}

@test "-z rejects a bad item anywhere in a port list, and one too long to be a port" {
	np_fails 2 'netpipe: port: """ is not a number or a known service' \
	    -z 127.0.0.1 '1,,2,"'
	np_fails 2 "netpipe: port: \"$(printf '9%.0s' {1..32})...\" is too long" \
	    -z 127.0.0.1 "80,$(printf '9%.0s' {1..300})"
}

@test "destination port 65536 is too large" {
	local port=$((0xffff + 1))
	np_fails 2 "netpipe: port: \"$port\" is too large" 127.0.0.1 "$port"
}

@test "listen port 70000 is an error, never wrapped to 4464" {
	# 65536 + 4464: were it taken modulo 65536, port 4464.  Never bound.
	local big=$((65536 + 4464))
	# A name, and the port is judged before any lookup of it.
	np_fails 2 "netpipe: port: \"$big\" is too large" -l localhost "$big"
	np_fails 2 "netpipe: port: \"$big\" is too large" -l "$big"
	np_fails 2 "netpipe: -p: \"$big\" is too large" -l -p "$big"
}

@test "an unknown service name is rejected" {
	np_fails 2 'netpipe: port: "nosuchsvc" is not a number or a known service' \
	    127.0.0.1 nosuchsvc
}

@test "an empty destination port is rejected" {
	np_fails 2 'netpipe: port: "" is not a number or a known service' \
	    127.0.0.1 ''
}

@test "an unknown short flag is reported in getopt's words" {
	np_fails 2 "netpipe: invalid option -- 'Q'" -Q 127.0.0.1 1
}

@test "an unknown long flag is reported in getopt's words" {
	np_fails 2 "netpipe: unrecognized option '--nope'" --nope 127.0.0.1 1
}

@test "a flag missing its argument is a usage error" {
	np_fails 2 "netpipe: option requires an argument -- 'w'" -w
}

@test "no destination: missing destination" {
	np_fails 2 'netpipe: missing destination'
	np_fails 2 'netpipe: missing destination' -z
}

@test "a destination without a port: missing port" {
	np_fails 2 'netpipe: missing port' 127.0.0.1
	np_fails 2 'netpipe: missing port' -l
	np_fails 2 'netpipe: missing port' -z 127.0.0.1
}

@test "an extra argument: too many arguments" {
	np_fails 2 'netpipe: too many arguments' 127.0.0.1 1 2
	np_fails 2 'netpipe: too many arguments' -l 127.0.0.1 1 2
}

@test "-l with -z cannot be used together" {
	np_fails 2 'netpipe: -l and -z cannot be used together' -l -z 127.0.0.1 1
}

@test "-x with -l, -u, -U or -s cannot be used together" {
	np_fails 2 'netpipe: -x and -l cannot be used together' \
	    -x localhost -l 127.0.0.1 1
	np_fails 2 'netpipe: -x and -u cannot be used together' \
	    -x localhost -u 127.0.0.1 1
	np_fails 2 'netpipe: -x and -U cannot be used together' \
	    -x localhost -U "$BATS_TEST_TMPDIR/s"
	np_fails 2 'netpipe: -x and -s cannot be used together' \
	    -x localhost -s 127.0.0.1 127.0.0.1 1
}

@test "-k without -l: -k requires -l" {
	np_fails 2 'netpipe: -k requires -l' -k 127.0.0.1 1
}

@test "-P without -x: -P requires -x" {
	np_fails 2 'netpipe: -P requires -x' -P alice 127.0.0.1 1
}

@test "-X with an unknown protocol is invalid" {
	np_fails 2 'netpipe: -X: "bogus" is invalid' \
	    -X bogus -x localhost 127.0.0.1 1
}

@test "-T with an unknown keyword is invalid" {
	np_fails 2 'netpipe: -T: "bogus" is invalid' -T bogus 127.0.0.1 1
}

@test "an over-long Unix path is a usage error for a client and a listener" {
	path=$BATS_TEST_TMPDIR/$(printf 'x%.0s' {1..120})
	np_fails 2 "netpipe: $path: path is too long" -U "$path"
	np_fails 2 "netpipe: $path: path is too long" -lU "$path"
	[ ! -e "$path" ]
}

@test "an unknown host exits 1 with the getaddrinfo message" {
	np_need_offline
	why=$(np_offline python3 -c '
import socket
try:
    socket.getaddrinfo("nosuch.invalid", 9)
except socket.gaierror as e:
    print(e.strerror)')
	run -1 --separate-stderr np_offline timeout 10 "${NP[@]}" \
	    nosuch.invalid 9 </dev/null
	assert_equal "$stderr" \
	    "netpipe: getaddrinfo for host \"nosuch.invalid\" port 9: $why"
	assert_equal "$output" ""
}

@test "-n with a host name exits 1 without resolving it" {
	np_fails 1 'netpipe: getaddrinfo for host "localhost" port 9: Name or service not known' \
	    -n localhost 9
}

@test "a refused connection exits 1 with the connect message" {
	np_closed_port
	np_fails 1 "netpipe: connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused" \
	    127.0.0.1 "$CLOSED_PORT"
	assert_equal "${#stderr_lines[@]}" 1
}

@test "a second listener on a busy port exits 1: Address already in use" {
	np_python_listen STREAM '
s.accept()
'
	np_fails 1 "netpipe: bind 127.0.0.1 port $PY_PORT: Address already in use" \
	    -l 127.0.0.1 "$PY_PORT"
}

@test "started with stdin closed, the peer gets no echo of its own data" {
	np_python_greeter "from peer\\n"
	# Not through `run`: with fd 0 closed, the pipe of its command
	# substitution lands on fd 0 too, and netpipe would read back its own
	# output.
	rc=0
	timeout 10 "${NP[@]}" 127.0.0.1 "$PY_PORT" <&- \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "from peer"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]*$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" ""
}

@test "started with stdout closed, the peer gets only the input bytes" {
	np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"from peer\n")
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
print(data.hex(), flush=True)
'
	# Not through `run`: its command substitution would give netpipe
	# a stdout again.
	rc=0
	timeout 10 "${NP[@]}" -v -N 127.0.0.1 "$PY_PORT" <<<"input" >&- \
	    2>"$BATS_TEST_TMPDIR/err" || rc=$?
	assert_equal "$rc" 0
	[[ $(cat "$BATS_TEST_TMPDIR/err") == *"Connection to 127.0.0.1 $PY_PORT port"* ]] ||
	    fail "no connect line: $(cat "$BATS_TEST_TMPDIR/err")"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]*$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'input\n')"
}

@test "started with stderr closed and -v, the peer gets only the input bytes" {
	# valgrind (make valgrind) cannot start with fd 2 closed.
	[ -z "${NETPIPE_WRAP:-}" ] || skip "NETPIPE_WRAP cannot run with stderr closed"
	np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"reply\n")
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
print(data.hex(), flush=True)
'
	rc=0
	timeout 10 "${NP[@]}" -v -N 127.0.0.1 "$PY_PORT" \
	    <<<"input" >"$BATS_TEST_TMPDIR/out" 2>&- || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "reply"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]*$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_hex 'input\n')"
}

@test "a listener started with all of stdin, stdout and stderr closed still serves a peer" {
	# valgrind (make valgrind) cannot start with fd 2 closed.
	[ -z "${NETPIPE_WRAP:-}" ] || skip "NETPIPE_WRAP cannot run with stderr closed"
	# No -v line to read the port from: watch ss for the listener's
	# socket, owned by the process we started.
	"${NP[@]}" -l 127.0.0.1 0 <&- >&- 2>&- 3>&- &
	pid=$!
	np_track "$pid"
	np_until 10 np_ss_port "$pid" ||
	    fail "listener $pid never appeared in ss"
	port=$NP_SS_PORT
	run timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"to nowhere\n")
c.shutdown(socket.SHUT_WR)
print(c.recv(100).hex())
' "$port"
	assert_success
	# Nothing may come back: a socket on fd 1 or 2 would echo.
	assert_output ""
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
}

@test "a usage error prints its line, then usage: and Try 'netpipe --help', as GNU tools do; -h keeps the full text" {
	run -2 --separate-stderr timeout 10 "${NP[@]}" -w 80x 127.0.0.1 1 \
	    </dev/null
	assert_output ""
	assert_equal "$stderr" "$(printf '%s\n' 'netpipe: -w: "80x" is invalid' \
	    'usage: netpipe [options] destination port' \
	    "Try 'netpipe --help' for more information.")"
	# getopt's own complaint ends the same way.
	run -2 --separate-stderr timeout 10 "${NP[@]}" -Q 127.0.0.1 1 </dev/null
	assert_equal "${#stderr_lines[@]}" 3
	assert_equal "${stderr_lines[2]}" \
	    "Try 'netpipe --help' for more information."
	run -0 --separate-stderr timeout 10 "${NP[@]}" -h
	assert_line --index 0 --regexp '^usage: netpipe \[-46bCDdFhklNnrStUuvZz\] '
	assert_line --partial -- '--md5sig'
	((${#lines[@]} > 60))
}

@test "refused, timed out, a missing Unix path and a source address we lack keep nc.openbsd's words" {
	local want
	np_closed_port
	want=$(np_nc_words -v 127.0.0.1 "$CLOSED_PORT")
	assert_equal "$want" \
	    "connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused"
	np_fails 1 "netpipe: $want" 127.0.0.1 "$CLOSED_PORT"

	np_python_listen STREAM "$PY_BLACKHOLE"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^full$'
	want=$(np_nc_words -v -w 1 127.0.0.1 "$PY_PORT")
	assert_equal "$want" \
	    "connect to 127.0.0.1 port $PY_PORT (tcp) timed out: Operation now in progress"
	np_fails 1 "netpipe: $want (no answer in 1 s, -w)" -w 1 127.0.0.1 "$PY_PORT"

	want=$(np_nc_words -U "$BATS_TEST_TMPDIR/missing.sock")
	assert_equal "$want" "$BATS_TEST_TMPDIR/missing.sock: No such file or directory"
	np_fails 1 "netpipe: $want" -U "$BATS_TEST_TMPDIR/missing.sock"

	# 192.0.2.1 (TEST-NET-1) is no address of this host.
	want=$(np_nc_words -s 192.0.2.1 127.0.0.1 "$CLOSED_PORT")
	assert_equal "$want" "bind failed: Cannot assign requested address"
	np_fails 1 "netpipe: $want (192.0.2.1 port 0)" \
	    -s 192.0.2.1 127.0.0.1 "$CLOSED_PORT"
}

@test "a connect to a name names its address too, as nc.openbsd does" {
	local want
	np_closed_port
	want=$(np_nc_words -v -4 localhost "$CLOSED_PORT")
	assert_equal "$want" \
	    "connect to localhost (127.0.0.1) port $CLOSED_PORT (tcp) failed: Connection refused"
	np_fails 1 "netpipe: $want" -4 localhost "$CLOSED_PORT"
}

@test "a name that does not resolve keeps nc.openbsd's getaddrinfo words, for a client, a listener, -s and -z" {
	local want
	# -n makes a name fail without any lookup: no query leaves the host.
	want=$(np_nc_words -n localhost 9)
	assert_equal "$want" \
	    'getaddrinfo for host "localhost" port 9: Name or service not known'
	np_fails 1 "netpipe: $want" -n localhost 9

	want=$(np_nc_words -z -n localhost 80)
	assert_equal "$want" \
	    'getaddrinfo for host "localhost" port 80: Name or service not known'
	np_fails 1 "netpipe: $want" -z -n localhost 80
	np_fails 1 "netpipe: $want" -z -n localhost 80-82,90

	want=$(np_nc_words -l -n localhost 9)
	assert_equal "$want" 'getaddrinfo: Name or service not known'
	np_fails 1 "netpipe: $want (host \"localhost\" port 9)" -l -n localhost 9

}

# no_dns CMD...: run CMD in a network and mount namespace of its own,
# whose resolv.conf names 127.0.0.1, where nothing answers: a lookup
# fails there, and no query can leave the machine.
no_dns() {
	local conf=$BATS_TEST_TMPDIR/resolv.conf
	echo "nameserver 127.0.0.1" >"$conf"
	unshare -mn sh -c 'mount --bind "$1" /etc/resolv.conf &&
	    ip link set lo up && shift && exec "$@"' sh "$conf" "$@"
}

@test "a -s name that does not resolve keeps nc.openbsd's getaddrinfo words (in a namespace without DNS)" {
	local want
	no_dns true 2>/dev/null || skip "cannot make a namespace here (unshare -mn)"
	want=$(no_dns nc.openbsd -s nosuch.invalid 127.0.0.1 9 2>&1 |
	    sed 's/^nc\.openbsd: //')
	[[ $want == "getaddrinfo: "* ]] || fail "nc.openbsd said: $want"
	run -1 --separate-stderr no_dns timeout 10 "${NP[@]}" \
	    -s nosuch.invalid 127.0.0.1 9 </dev/null
	assert_equal "$stderr" \
	    "netpipe: $want (host \"nosuch.invalid\" port 0)"
}

@test "netpipe -z no-such-host 80 names port 80, as nc.openbsd does (in a namespace without DNS)" {
	local want
	no_dns true 2>/dev/null || skip "cannot make a namespace here (unshare -mn)"
	want=$(no_dns nc.openbsd -z no-such-host 80 2>&1 |
	    sed 's/^nc\.openbsd: //')
	[[ $want == 'getaddrinfo for host "no-such-host" port 80: '* ]] ||
	    fail "nc.openbsd said: $want"
	run -1 --separate-stderr no_dns timeout 10 "${NP[@]}" \
	    -z no-such-host 80 </dev/null
	assert_equal "$stderr" "netpipe: $want"
}

@test "a missing --send-file, an --output or --hex-dump that cannot be made, or a missing TLS file: exit 1, and nobody is connected to" {
	local log=$BATS_TEST_TMPDIR/hold.log d=$BATS_TEST_TMPDIR
	np_hold_ports o
	np_fails 1 "netpipe: $d/fiel: No such file or directory" \
	    --send-file "$d/fiel" 127.0.0.1 "$HOLD_PORT"
	np_fails 1 "netpipe: $d/no/out: No such file or directory" \
	    --output "$d/no/out" 127.0.0.1 "$HOLD_PORT"
	np_fails 1 "netpipe: $d/no/hex: No such file or directory" \
	    --hex-dump "$d/no/hex" 127.0.0.1 "$HOLD_PORT"
	np_fails 1 "netpipe: $d/fiel: No such file or directory" \
	    --send-file "$d/fiel" -x "127.0.0.1:$HOLD_PORT" 127.0.0.1 80
	np_fails 1 "netpipe: --tls-ca: $d/ca.pem: No such file or directory" \
	    --tls --tls-ca "$d/ca.pem" 127.0.0.1 "$HOLD_PORT"
	# One connection of our own: the holder logs accepts in order, so
	# once it shows, any earlier one would have shown before it.
	timeout 10 nc.openbsd -z 127.0.0.1 "$HOLD_PORT"
	np_wait_for "$log" '^accept '
	assert_equal "$(grep -c '^accept ' "$log")" 1
}

@test "a listener whose --output, --hex-dump or --allow-file cannot be opened exits 1 before it listens" {
	local d=$BATS_TEST_TMPDIR
	np_fails 1 "netpipe: $d/no/out: No such file or directory" \
	    -v -l --output "$d/no/out" 127.0.0.1 0
	assert_equal "${#stderr_lines[@]}" 1
	np_fails 1 "netpipe: $d/no/hex: No such file or directory" \
	    -v -l --hex-dump "$d/no/hex" 127.0.0.1 0
	assert_equal "${#stderr_lines[@]}" 1
	np_fails 1 "netpipe: --allow-file: $d/acl: No such file or directory" \
	    -v -l --allow-file "$d/acl" 127.0.0.1 0
	assert_equal "${#stderr_lines[@]}" 1
	np_fails 1 "netpipe: $d/no/out: No such file or directory" \
	    -v -l -u --output "$d/no/out" 127.0.0.1 0
	assert_equal "${#stderr_lines[@]}" 1
}

@test "-F with --send-file, --output or --hex-dump is a usage error: the file would never be used" {
	np_fails 2 'netpipe: -F and --send-file cannot be used together' \
	    -F --send-file /etc/hostname 127.0.0.1 1
	np_fails 2 'netpipe: -F and --output cannot be used together' \
	    -F --output "$BATS_TEST_TMPDIR/out" 127.0.0.1 1
	np_fails 2 'netpipe: -F and --hex-dump cannot be used together' \
	    -F --hex-dump "$BATS_TEST_TMPDIR/hex" 127.0.0.1 1
	[ ! -e "$BATS_TEST_TMPDIR/out" ] && [ ! -e "$BATS_TEST_TMPDIR/hex" ]
}
