#!/usr/bin/env bats
# --mptcp (issue 18): Multipath TCP for connect and listen, a plain TCP
# peer falling back, and a clear error where MPTCP is off.  ss -M shows
# which sockets are MPTCP: "remote_key" once both ends agreed, "fallback"
# when the peer spoke plain TCP.

load helpers

setup() {
	[ "$(cat /proc/sys/net/mptcp/enabled 2>/dev/null)" = 1 ] ||
	    skip "MPTCP is not available here (net.mptcp.enabled is not 1)"
}

# mptcp_line PORT PID: the MPTCP socket of process PID on local port PORT,
# as ss -Mnip shows it (state, then the info on one line).
mptcp_line() {
	ss -HMnip "sport = :$1" | paste -d ' ' - - | grep -F "pid=$2,"
}

# np_mptcp_wait PORT PID WORD: wait until that socket's line has WORD.
np_mptcp_wait() {
	np_until 10 eval "mptcp_line $1 $2 | grep -qw $3" && return
	echo "no MPTCP socket of pid $2 on port $1 with $3:" >&2
	ss -Mnip >&2
	return 1
}

@test "--mptcp: a netpipe client and listener connect over Multipath TCP and move the data both ways" {
	local cport
	np_fifo_held in
	NP_IN=$FIFO np_listen_exec --mptcp 127.0.0.1 0
	echo "to client" >"$FIFO"
	np_fifo_held cin
	"${NP[@]}" -v --mptcp 127.0.0.1 "$NP_PORT" <"$FIFO" \
	    >"$BATS_TEST_TMPDIR/client.out" 2>"$BATS_TEST_TMPDIR/client.err" 3>&- &
	CPID=$!
	np_track "$CPID"
	echo "to listener" >"$FIFO"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^to listener$'
	np_wait_for "$BATS_TEST_TMPDIR/client.out" '^to client$'
	# Both ends' sockets are MPTCP, and neither fell back to TCP.
	np_mptcp_wait "$NP_PORT" "$NP_PID" remote_key
	cport=$(ss -HMn "dport = :$NP_PORT" | awk '{ sub(/.*:/, "", $4); print $4 }')
	np_mptcp_wait "$cport" "$CPID" remote_key
	run mptcp_line "$NP_PORT" "$NP_PID"
	refute_output --partial fallback
}

@test "--mptcp client to a plain TCP listener falls back to TCP and still delivers" {
	local in
	in=$(np_random_file in 1M)
	np_nc_listen 127.0.0.1 0
	np_fifo_held cin
	cat "$in" >"$FIFO" 3>&- &
	np_track $!
	"${NP[@]}" -N --mptcp 127.0.0.1 "$NC_PORT" <"$FIFO" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/client.err" 3>&- &
	CPID=$!
	np_track "$CPID"
	np_wait_size "$BATS_TEST_TMPDIR/nc.out" $((1024 * 1024))
	cport=$(ss -HMn "dport = :$NC_PORT" | awk '{ sub(/.*:/, "", $4); print $4 }')
	np_mptcp_wait "$cport" "$CPID" fallback
	kill "$HOLDER_PID"
	np_status "$CPID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--mptcp listener takes a plain TCP client, falling back to TCP" {
	np_fifo_held in
	NP_IN=$FIFO np_listen_exec --mptcp 127.0.0.1 0
	# The listening socket is MPTCP.
	run -0 ss -HMlnp "sport = :$NP_PORT"
	assert_output --partial "pid=$NP_PID,"
	np_fifo_held cin
	nc.openbsd 127.0.0.1 "$NP_PORT" <"$FIFO" >"$BATS_TEST_TMPDIR/nc.out" 3>&- &
	np_track $!
	echo "plain" >"$FIFO"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^plain$'
	# The kernel hands over the peer's plain TCP connection as it is.
	run -0 ss -Htnp "sport = :$NP_PORT"
	assert_output --partial "pid=$NP_PID,"
	run -0 ss -HMnp "sport = :$NP_PORT"
	assert_output ""
}

@test "--mptcp where net.mptcp.enabled is 0 fails with a message that says so" {
	command -v unshare >/dev/null || skip "no unshare(1)"
	unshare -n true 2>/dev/null || skip "cannot make a network namespace"
	run -1 --separate-stderr timeout 10 unshare -n sh -c '
		sysctl -qw net.mptcp.enabled=0 && ip link set lo up && exec "$@"
	    ' sh "${NP[@]}" -l --mptcp 127.0.0.1 0
	assert_equal "$stderr" \
	    "netpipe: --mptcp: Protocol not available (net.mptcp.enabled is 0)"
	run -1 --separate-stderr timeout 10 unshare -n sh -c '
		sysctl -qw net.mptcp.enabled=0 && ip link set lo up && exec "$@"
	    ' sh "${NP[@]}" --mptcp 127.0.0.1 9
	assert_equal "$stderr" \
	    "netpipe: --mptcp: Protocol not available (net.mptcp.enabled is 0)"
}

@test "--mptcp with -u or -U is a usage error" {
	np_fails 2 'netpipe: --mptcp and -u cannot be used together' \
	    --mptcp -u 127.0.0.1 1
	np_fails 2 'netpipe: --mptcp and -U cannot be used together' \
	    --mptcp -U /tmp/x
}
