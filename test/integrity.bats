#!/usr/bin/env bats
# Bytes are delivered exactly (SPEC section 2): large random files, NUL
# bytes included, checked by sha256 against nc.openbsd, socat and netpipe
# itself, over TCP and Unix sockets.

load helpers

# The big transfers get more time than a small one needs; still bounded.
NP_TIMEOUT=60

@test "256 MiB from netpipe to an nc.openbsd listener arrive intact" {
	local in out=$BATS_TEST_TMPDIR/nc.out
	in=$(np_random_file in 256M)
	np_nc_listen -n 127.0.0.1 0
	np_io "$in" /dev/null -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NC_PID" 60
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	rm -f "$in" "$out"
}

@test "256 MiB from an nc.openbsd client to a netpipe listener arrive intact" {
	local in out=$BATS_TEST_TMPDIR/out
	in=$(np_random_file in 256M)
	np_listen_exec 127.0.0.1 0
	timeout 60 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in"
	np_status "$NP_PID" 60
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	rm -f "$in" "$out"
}

@test "256 MiB from netpipe to netpipe over a Unix socket arrive intact" {
	local in out=$BATS_TEST_TMPDIR/out sock=$BATS_TEST_TMPDIR/s.sock
	in=$(np_random_file in 256M)
	np_listen_exec -U "$sock"
	np_io "$in" /dev/null -N -U "$sock"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID" 60
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	rm -f "$in" "$out"
}

@test "64 MiB from a pipe through netpipe to netpipe into a pipe arrive intact" {
	local in sum=$BATS_TEST_TMPDIR/sum
	in=$(np_random_file in 64M)
	NP_OUT=/dev/stdout np_listen_exec 127.0.0.1 0 > >(np_sha /dev/stdin >"$sum")
	np_io <(cat "$in") /dev/null -N 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID" 60
	assert_equal "$NP_STATUS" 0
	np_wait_for "$sum" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$sum")" "$(np_sha "$in")"
	rm -f "$in"
}

@test "16 MiB with NUL bytes from a netpipe listener to a socat client arrive intact" {
	local in got=$BATS_TEST_TMPDIR/got
	in=$(np_nul_file in 16)
	NP_IN=$in np_listen_exec -N 127.0.0.1 0
	timeout 10 socat -u "TCP:127.0.0.1:$NP_PORT" STDOUT >"$got"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
	rm -f "$in" "$got"
}

@test "16 MiB with NUL bytes from a socat client to a netpipe listener arrive intact" {
	local in out=$BATS_TEST_TMPDIR/out
	in=$(np_nul_file in 16)
	np_listen_exec 127.0.0.1 0
	timeout 10 socat -u "OPEN:$in" "TCP:127.0.0.1:$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	rm -f "$in" "$out"
}
