#!/usr/bin/env bats
# --sockopt and the short flags that share its table (-I -O -T -M -m -D
# -b): every option is set, then read back from the kernel by python3
# (np_sockopts takes a duplicate of netpipe's own socket with
# pidfd_getfd and calls getsockopt with python's constants, so a typo in
# netpipe's table cannot agree with itself), and the -vv line netpipe
# prints is checked against it.  Also: errors, and -4/-6 on listeners.

load helpers

# An nc.openbsd listener on 127.0.0.1 that holds its one connection
# until the peer closes it.  Sets PEER_PORT.
hold_listener() {
	np_nc_listen 127.0.0.1 0
	PEER_PORT=$NC_PORT
}

# client ARGS...: netpipe -vv -d ARGS, connected to hold_listener in the
# background; returns once it says it is connected, by when its options
# are set.  Sets CLI_PID; its stderr is $BATS_TEST_TMPDIR/cli.err.
client() {
	hold_listener
	# Emptied here, not only by the child's redirection: a second client
	# in one test must not be taken as connected on the first one's line.
	: >"$BATS_TEST_TMPDIR/cli.err"
	"${NP[@]}" -vv -d "$@" 127.0.0.1 "$PEER_PORT" </dev/null >/dev/null \
	    2>"$BATS_TEST_TMPDIR/cli.err" 3>&- &
	CLI_PID=$!
	np_track "$CLI_PID"
	np_wait_for "$BATS_TEST_TMPDIR/cli.err" 'succeeded!$'
}

# said FILE LINE: netpipe printed "netpipe: LINE" in FILE (-vv).
said() {
	grep -qxF "netpipe: $2" "$1" ||
	    fail "no \"netpipe: $2\" in: $(cat "$1")"
}

# readback SPEC VALUE LINE: the kernel holds VALUE for SPEC on the
# client's socket, and -vv printed LINE.
readback() {
	np_sockopts "$CLI_PID" connected "$1"
	assert_equal "$NP_SOCKOPTS" "$2"
	said "$BATS_TEST_TMPDIR/cli.err" "$3"
}

@test "--sockopt nodelay sets TCP_NODELAY" {
	client --sockopt nodelay
	readback IPPROTO_TCP:TCP_NODELAY 1 "TCP_NODELAY 1"
}

@test "--sockopt keepalive sets SO_KEEPALIVE and ss shows the keepalive timer" {
	client --sockopt keepalive
	readback SOL_SOCKET:SO_KEEPALIVE 1 "SO_KEEPALIVE 1"
	run ss -tonH state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *"timer:(keepalive,"* ]] || fail "ss: $output"
}

@test "--sockopt keepidle=77 sets TCP_KEEPIDLE" {
	client --sockopt keepalive --sockopt keepidle=77
	readback IPPROTO_TCP:TCP_KEEPIDLE 77 "TCP_KEEPIDLE 77"
	# The keepalive timer starts from the idle time: 1min17sec or less.
	run ss -tonH state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *"timer:(keepalive,1min1"* ]] || fail "ss: $output"
}

@test "--sockopt keepintvl=13 sets TCP_KEEPINTVL" {
	client --sockopt keepintvl=13
	readback IPPROTO_TCP:TCP_KEEPINTVL 13 "TCP_KEEPINTVL 13"
}

@test "--sockopt keepcnt=5 sets TCP_KEEPCNT" {
	client --sockopt keepcnt=5
	readback IPPROTO_TCP:TCP_KEEPCNT 5 "TCP_KEEPCNT 5"
}

@test "--sockopt reuseaddr sets SO_REUSEADDR on a client" {
	client --sockopt reuseaddr
	readback SOL_SOCKET:SO_REUSEADDR 1 "SO_REUSEADDR 1"
}

@test "--sockopt reuseport sets SO_REUSEPORT" {
	client --sockopt reuseport=1
	readback SOL_SOCKET:SO_REUSEPORT 1 "SO_REUSEPORT 1"
}

@test "--sockopt linger=7 sets SO_LINGER on, 7 seconds" {
	client --sockopt linger=7
	readback SOL_SOCKET:SO_LINGER:linger "1 7" "SO_LINGER 7"
}

@test "--sockopt rcvbuf=65536 sets SO_RCVBUF, which the kernel doubles" {
	client --sockopt rcvbuf=65536
	readback SOL_SOCKET:SO_RCVBUF 131072 "SO_RCVBUF 131072"
}

@test "--sockopt sndbuf=65536 sets SO_SNDBUF, which the kernel doubles" {
	client --sockopt sndbuf=65536
	readback SOL_SOCKET:SO_SNDBUF 131072 "SO_SNDBUF 131072"
}

@test "--sockopt tos=af21 sets IP_TOS 72 and ss shows it" {
	client --sockopt tos=af21
	readback IPPROTO_IP:IP_TOS 72 "IP_TOS 72"
	run ss -tnH --tos state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *"tos:0x48"* ]] || fail "ss: $output"
}

@test "--sockopt ttl=33 sets IP_TTL" {
	client --sockopt ttl=33
	readback IPPROTO_IP:IP_TTL 33 "IP_TTL 33"
}

@test "--sockopt minttl=2 sets IP_MINTTL" {
	client --sockopt minttl=2
	readback IPPROTO_IP:IP_MINTTL 2 "IP_MINTTL 2"
}

@test "--sockopt mark=0x2a sets SO_MARK 42 and ss shows fwmark" {
	client --sockopt mark=0x2a
	readback SOL_SOCKET:SO_MARK 42 "SO_MARK 42"
	run ss -tonieH state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *"fwmark:0x2a"* ]] || fail "ss: $output"
}

@test "--sockopt congestion=reno sets TCP_CONGESTION and ss shows reno" {
	grep -qw reno /proc/sys/net/ipv4/tcp_available_congestion_control ||
	    skip "the kernel offers no reno congestion control"
	client --sockopt congestion=reno
	readback IPPROTO_TCP:TCP_CONGESTION:str reno "TCP_CONGESTION reno"
	run ss -tniH state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *" reno "* ]] || fail "ss: $output"
}

@test "--sockopt quickack=0 clears TCP_QUICKACK on the connected socket" {
	# The kernel reads 1 until told otherwise, so 0 proves the set.
	client --sockopt quickack=0
	readback IPPROTO_TCP:TCP_QUICKACK 0 "TCP_QUICKACK 0"
}

@test "--sockopt maxseg=1000 caps TCP_MAXSEG at 1000" {
	# Once connected, the kernel reports the MSS in use: 1000 less the
	# TCP timestamp option.
	client --sockopt maxseg=1000
	np_sockopts "$CLI_PID" connected IPPROTO_TCP:TCP_MAXSEG
	((NP_SOCKOPTS > 900 && NP_SOCKOPTS <= 1000)) ||
	    fail "TCP_MAXSEG is $NP_SOCKOPTS"
	said "$BATS_TEST_TMPDIR/cli.err" "TCP_MAXSEG $NP_SOCKOPTS"
	run ss -tniH state established dst "127.0.0.1:$PEER_PORT"
	[[ $output == *" mss:$NP_SOCKOPTS "* ]] || fail "ss: $output"
}

@test "--sockopt user-timeout=5000 sets TCP_USER_TIMEOUT" {
	client --sockopt user-timeout=5000
	readback IPPROTO_TCP:TCP_USER_TIMEOUT 5000 "TCP_USER_TIMEOUT 5000"
}

@test "--sockopt bindtodevice=lo sets SO_BINDTODEVICE" {
	client --sockopt bindtodevice=lo
	readback SOL_SOCKET:SO_BINDTODEVICE:str lo "SO_BINDTODEVICE lo"
}

@test "--sockopt fastopen on a client sets TCP_FASTOPEN_CONNECT" {
	client --sockopt fastopen
	readback IPPROTO_TCP:TCP_FASTOPEN_CONNECT 1 "TCP_FASTOPEN_CONNECT 1"
}

@test "--sockopt priority=5 sets SO_PRIORITY" {
	client --sockopt priority=5
	readback SOL_SOCKET:SO_PRIORITY 5 "SO_PRIORITY 5"
}

@test "--sockopt debug and -D set SO_DEBUG" {
	client --sockopt debug
	readback SOL_SOCKET:SO_DEBUG 1 "SO_DEBUG 1"
	client -D
	readback SOL_SOCKET:SO_DEBUG 1 "SO_DEBUG 1"
}

@test "--sockopt broadcast and -b set SO_BROADCAST on a UDP socket" {
	np_python_listen DGRAM 'import time; time.sleep(60)'
	for flag in "--sockopt broadcast" -b; do
		# shellcheck disable=SC2086
		"${NP[@]}" -vv -d -u $flag 127.0.0.1 "$PY_PORT" </dev/null \
		    2>"$BATS_TEST_TMPDIR/u.err" 3>&- &
		pid=$!
		np_track "$pid"
		np_wait_for "$BATS_TEST_TMPDIR/u.err" 'succeeded!$'
		np_sockopts "$pid" any SOL_SOCKET:SO_BROADCAST
		assert_equal "$NP_SOCKOPTS" 1
		said "$BATS_TEST_TMPDIR/u.err" "SO_BROADCAST 1"
		kill "$pid"
		np_wait_exit "$pid"
	done
}

@test "--sockopt rcvbuf on a UDP socket stays as given; the pump does not replace it" {
	# The pump gives a UDP socket a large receive buffer of its own
	# unless the user chose one; it must see --sockopt rcvbuf as a
	# choice, as it sees -I.
	grep -q 'sock_opt_given' "$BATS_TEST_DIRNAME/../transfer.c" ||
	    skip "transfer.c does not ask sock_opt_given() yet"
	np_python_listen DGRAM '
import time
print(s.recv(100).decode(), end="", flush=True)
time.sleep(60)
'
	"${NP[@]}" -u --sockopt rcvbuf=65536 127.0.0.1 "$PY_PORT" <<<"hello" \
	    2>/dev/null 3>&- &
	pid=$!
	np_track "$pid"
	# Once a datagram has gone out, the pump has set up the socket.
	np_wait_for "$BATS_TEST_TMPDIR/py.out" hello
	np_sockopts "$pid" any SOL_SOCKET:SO_RCVBUF
	assert_equal "$NP_SOCKOPTS" 131072
}

@test "-I -O -T -M -m go through the same table: -vv reads back what the kernel holds" {
	client -I 65536 -O 32768 -T lowdelay -M 33 -m 2
	np_sockopts "$CLI_PID" connected SOL_SOCKET:SO_RCVBUF \
	    SOL_SOCKET:SO_SNDBUF IPPROTO_IP:IP_TOS IPPROTO_IP:IP_TTL \
	    IPPROTO_IP:IP_MINTTL
	assert_equal "$NP_SOCKOPTS" "$(printf '%s\n' 131072 65536 16 33 2)"
	for line in "SO_RCVBUF 131072" "SO_SNDBUF 65536" "IP_TOS 16" \
	    "IP_TTL 33" "IP_MINTTL 2"; do
		said "$BATS_TEST_TMPDIR/cli.err" "$line"
	done
}

@test "a later --sockopt wins over an earlier one and over its short flag" {
	client -I 16384 --sockopt rcvbuf=32768 --sockopt rcvbuf=65536
	np_sockopts "$CLI_PID" connected SOL_SOCKET:SO_RCVBUF
	assert_equal "$NP_SOCKOPTS" 131072
}

@test "on an IPv6 socket -T, -M and -m set IPV6_TCLASS, IPV6_UNICAST_HOPS and IPV6_MINHOPCOUNT" {
	np_need_ipv6
	np_listen_exec -d ::1 0
	"${NP[@]}" -vv -d -T af21 -M 33 -m 2 ::1 "$NP_PORT" </dev/null \
	    2>"$BATS_TEST_TMPDIR/cli.err" 3>&- &
	CLI_PID=$!
	np_track "$CLI_PID"
	np_wait_for "$BATS_TEST_TMPDIR/cli.err" 'succeeded!$'
	np_sockopts "$CLI_PID" connected IPPROTO_IPV6:IPV6_TCLASS \
	    IPPROTO_IPV6:IPV6_UNICAST_HOPS IPPROTO_IPV6:IPV6_MINHOPCOUNT
	assert_equal "$NP_SOCKOPTS" "$(printf '%s\n' 72 33 2)"
	for line in "IPV6_TCLASS 72" "IPV6_UNICAST_HOPS 33" \
	    "IPV6_MINHOPCOUNT 2"; do
		said "$BATS_TEST_TMPDIR/cli.err" "$line"
	done
}

@test "a dual-stack listener sets the IPv4 twin too, so IPv4 peers get -T and -M" {
	np_listen_exec -vv -T af21 -M 33 0
	np_sockopts "$NP_PID" listening IPPROTO_IPV6:IPV6_V6ONLY \
	    IPPROTO_IPV6:IPV6_TCLASS IPPROTO_IP:IP_TOS \
	    IPPROTO_IPV6:IPV6_UNICAST_HOPS IPPROTO_IP:IP_TTL
	assert_equal "$NP_SOCKOPTS" "$(printf '%s\n' 0 72 72 33 33)"
	for line in "IPV6_TCLASS 72" "IP_TOS 72" "IPV6_UNICAST_HOPS 33" \
	    "IP_TTL 33"; do
		said "$BATS_TEST_TMPDIR/listen.err" "$line"
	done
}

@test "--sockopt fastopen on a listener sets the TCP_FASTOPEN queue: 16, or the value given" {
	np_listen_exec -vv --sockopt fastopen 127.0.0.1 0
	np_sockopts "$NP_PID" listening IPPROTO_TCP:TCP_FASTOPEN
	assert_equal "$NP_SOCKOPTS" 16
	said "$BATS_TEST_TMPDIR/listen.err" "TCP_FASTOPEN 16"
	kill "$NP_PID"
	np_wait_exit "$NP_PID"
	np_listen_exec -vv --sockopt fastopen=5 127.0.0.1 0
	np_sockopts "$NP_PID" listening IPPROTO_TCP:TCP_FASTOPEN
	assert_equal "$NP_SOCKOPTS" 5
}

@test "--sockopt reuseaddr=0 overrides the listener's own SO_REUSEADDR" {
	np_listen_exec 127.0.0.1 0
	np_sockopts "$NP_PID" listening SOL_SOCKET:SO_REUSEADDR \
	    SOL_SOCKET:SO_REUSEPORT
	assert_equal "$NP_SOCKOPTS" "$(printf '1\n0')"
	kill "$NP_PID"
	np_wait_exit "$NP_PID"
	np_listen_exec -vv --sockopt reuseaddr=0 127.0.0.1 0
	np_sockopts "$NP_PID" listening SOL_SOCKET:SO_REUSEADDR
	assert_equal "$NP_SOCKOPTS" 0
	said "$BATS_TEST_TMPDIR/listen.err" "SO_REUSEADDR 0"
}

@test "--sockopt maxseg=1000 on a listener reads back 1000 before any peer" {
	np_listen_exec -vv --sockopt maxseg=1000 127.0.0.1 0
	np_sockopts "$NP_PID" listening IPPROTO_TCP:TCP_MAXSEG
	assert_equal "$NP_SOCKOPTS" 1000
	said "$BATS_TEST_TMPDIR/listen.err" "TCP_MAXSEG 1000"
}

@test "the socket a listener accepts carries its options, quickack and priority included" {
	# accept(2) copies most options from the listener but resets
	# TCP_QUICKACK and SO_PRIORITY; netpipe sets those again.
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	np_listen_exec -vv --sockopt keepidle=77 --sockopt priority=5 \
	    --sockopt quickack=0 --sockopt mark=7 -T af21 -I 65536 \
	    127.0.0.1 0
	nc.openbsd 127.0.0.1 "$NP_PORT" <"$BATS_TEST_TMPDIR/in" >/dev/null \
	    3>&- 4>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	np_sockopts "$NP_PID" connected IPPROTO_TCP:TCP_KEEPIDLE \
	    SOL_SOCKET:SO_PRIORITY IPPROTO_TCP:TCP_QUICKACK SOL_SOCKET:SO_MARK \
	    IPPROTO_IP:IP_TOS SOL_SOCKET:SO_RCVBUF
	assert_equal "$NP_SOCKOPTS" "$(printf '%s\n' 77 5 0 7 72 131072)"
	# The accepted socket's lines come after the listener's own.
	sed -n '/^Listening on/,$p' "$BATS_TEST_TMPDIR/listen.err" \
	    >"$BATS_TEST_TMPDIR/accepted.err"
	for line in "TCP_KEEPIDLE 77" "SO_PRIORITY 5" "TCP_QUICKACK 0" \
	    "SO_MARK 7" "SO_RCVBUF 131072"; do
		said "$BATS_TEST_TMPDIR/accepted.err" "$line"
	done
	exec 4>&-
}

@test "--sockopt rcvbuf and sndbuf apply to a Unix-domain listener" {
	np_listen_exec -vv -U --sockopt rcvbuf=65536 --sockopt sndbuf=32768 \
	    "$BATS_TEST_TMPDIR/s"
	np_sockopts "$NP_PID" listening SOL_SOCKET:SO_RCVBUF \
	    SOL_SOCKET:SO_SNDBUF
	assert_equal "$NP_SOCKOPTS" "$(printf '131072\n65536')"
	said "$BATS_TEST_TMPDIR/listen.err" "SO_RCVBUF 131072"
}

@test "--sockopt with an unknown name exits 2 and lists every known name" {
	run -2 --separate-stderr "${NP[@]}" --sockopt nosuch 127.0.0.1 1
	assert_output ""
	[[ ${stderr_lines[0]} == 'netpipe: --sockopt: unknown option "nosuch" (known: '* ]] ||
	    fail "${stderr_lines[0]}"
	for name in nodelay keepalive keepidle keepintvl keepcnt reuseaddr \
	    reuseport linger rcvbuf sndbuf tos ttl minttl mark congestion \
	    quickack maxseg user-timeout bindtodevice fastopen priority \
	    debug broadcast; do
		[[ ${stderr_lines[0]} == *" $name"[,\)]* ]] ||
		    fail "$name is not listed: ${stderr_lines[0]}"
	done
	[[ ${stderr_lines[1]} == "usage: netpipe"* ]]
}

@test "--sockopt with a bad value exits 2 naming the option and the value" {
	np_fails 2 'netpipe: --sockopt rcvbuf: "abc" is invalid' \
	    --sockopt rcvbuf=abc 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt keepcnt: "200" is too large' \
	    --sockopt keepcnt=200 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt nodelay: "2" is too large' \
	    --sockopt nodelay=2 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt linger: "-1" is too small' \
	    --sockopt linger=-1 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt mark: "0x100000000" is too large' \
	    --sockopt mark=0x100000000 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt tos: "bogus" is invalid' \
	    --sockopt tos=bogus 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt congestion: "" is invalid' \
	    --sockopt congestion= 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt bindtodevice: "abcdefghijklmnopq" is too long' \
	    --sockopt bindtodevice=abcdefghijklmnopq 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt rcvbuf: needs a value (rcvbuf=VALUE)' \
	    --sockopt rcvbuf 127.0.0.1 1
}

@test "--sockopt rejects TCP options on UDP and IP options on Unix sockets with exit 2" {
	np_fails 2 'netpipe: --sockopt nodelay: only for TCP sockets' \
	    -u --sockopt nodelay 127.0.0.1 1
	np_fails 2 'netpipe: --sockopt fastopen: only for TCP sockets' \
	    -U --sockopt fastopen "$BATS_TEST_TMPDIR/s"
	np_fails 2 'netpipe: --sockopt tos: not for Unix-domain sockets' \
	    -U --sockopt tos=af11 "$BATS_TEST_TMPDIR/s"
}

@test "a value the kernel refuses exits 1 naming the option, before connecting" {
	hold_listener
	np_fails 1 'netpipe: --sockopt congestion=nosuch: setsockopt TCP_CONGESTION: No such file or directory' \
	    --sockopt congestion=nosuch 127.0.0.1 "$PEER_PORT"
	np_fails 1 'netpipe: --sockopt bindtodevice=nosuchdev0: setsockopt SO_BINDTODEVICE: No such device' \
	    --sockopt bindtodevice=nosuchdev0 127.0.0.1 "$PEER_PORT"
	np_fails 1 'netpipe: --sockopt maxseg=10: setsockopt TCP_MAXSEG: Invalid argument' \
	    --sockopt maxseg=10 127.0.0.1 "$PEER_PORT"
	np_fails 1 'netpipe: --sockopt congestion=nosuch: setsockopt TCP_CONGESTION: No such file or directory' \
	    -l --sockopt congestion=nosuch 127.0.0.1 0
}

@test "a listener without -4/-6 is dual-stack: IPv4 and IPv6 peers both get through" {
	np_need_ipv6
	NP_OUT=$BATS_TEST_TMPDIR/out4 np_listen_exec 0
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on :: $NP_PORT"
	np_sockopts "$NP_PID" listening IPPROTO_IPV6:IPV6_V6ONLY
	assert_equal "$NP_SOCKOPTS" 0
	printf 'four\n' | timeout 10 nc.openbsd -4 -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out4")" four
	NP_OUT=$BATS_TEST_TMPDIR/out6 np_listen_exec 0
	printf 'six\n' | timeout 10 nc.openbsd -6 -N ::1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out6")" six
}

@test "-6 narrows the listener to IPv6: IPV6_V6ONLY is set and an IPv4 peer is refused" {
	np_need_ipv6
	np_listen_exec -6 0
	np_sockopts "$NP_PID" listening IPPROTO_IPV6:IPV6_V6ONLY
	assert_equal "$NP_SOCKOPTS" 1
	run timeout 10 nc.openbsd -4 -z 127.0.0.1 "$NP_PORT"
	assert_failure 1
	printf 'six\n' | timeout 10 nc.openbsd -6 -N ::1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" six
}

@test "-4 narrows the listener to IPv4: it listens on 0.0.0.0 and an IPv6 peer is refused" {
	np_need_ipv6
	np_listen_exec -4 0
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on 0.0.0.0 $NP_PORT"
	run timeout 10 nc.openbsd -6 -z ::1 "$NP_PORT"
	assert_failure 1
	printf 'four\n' | timeout 10 nc.openbsd -4 -N 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" four
}
