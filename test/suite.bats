#!/usr/bin/env bats
# The test suite's own tools (issue 13, item 5): the FIFO holder lives until
# it is killed, np_offline keeps name lookups on the machine,
# test/lint-tests finds the lookups that do not, and test/run runs what it
# is given.

load helpers

# A bats file for lint-tests: every line of "bad" looks a name up through
# the machine's resolver; no line of "good" does.  (TEST stands for the
# keyword, which bats would take for a test of this file.)
LINT_SAMPLE='
TEST "bad" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" nosuch.invalid 9
	np_fails 1 "netpipe: x" -z no-such-host 80
	"${pre[@]}" "${NP[@]}" -v -l -s bad.example 0 &
	np_io /dev/null out -x bad-proxy.test:1080 127.0.0.1 80
	np_io /dev/null out -X 4 -x "127.0.0.1:$PX" socks4-dest 80
	why=$(python3 -c "
import socket
socket.getaddrinfo(\"bad-py.invalid\", 9)")
	nc.openbsd -N bad-nc.example.com 80 </dev/null
	np --allow=bad-allow.invalid -l 0
	echo x | np badpipe 80
}
TEST "good" {
	run -1 --separate-stderr np_offline timeout 10 "${NP[@]}" ok.invalid 9
	why=$(np_offline python3 -c "
import socket
socket.getaddrinfo(\"ok-py.invalid\", 9)")
	np_fails 2 "netpipe: conflict" -x proxy.invalid:1080 -l 127.0.0.1 1
	np_fails 1 "netpipe: x" -n numeric-only 80
	np_io /dev/null out -x "127.0.0.1:$PX" proxied.example 80
	np -X connect -x "127.0.0.1:$PX" example.org 443
	"${NP[@]}" --tls --tls-name name.test localhost "$PORT"
	"${NP[@]}" -lU sock.test
	np -e cat 127.0.0.1 80
	assert_equal "$stderr" "netpipe: getaddrinfo for host \"x.invalid\""
	ip netns exec "$NS" "${NP[@]}" -v other.invalid 80
	np -l 0 >in.test 2>err.com
}'

@test "an NP_HOLD holder keeps its FIFO open after the reader has gone" {
	local reader
	np_fifo_held hold.fifo
	cat "$FIFO" >/dev/null 3>&- &
	reader=$!
	np_track "$reader"
	# The holder's open(2) returns, and it execs, once cat has the FIFO.
	np_until 10 grep -qvx bash "/proc/$HOLDER_PID/comm"
	kill "$reader"
	np_wait_exit "$reader"
	# tail -f noticed the broken pipe within about a second and left.
	np_alive_for "$HOLDER_PID" 2500
}

@test "np_offline: only lo, a resolver at 127.0.0.1, the host's resolv.conf untouched" {
	local before
	np_need_offline
	before=$(cat /etc/resolv.conf)
	run -0 np_offline ip -o link show
	assert_equal "${#lines[@]}" 1
	[[ ${lines[0]} == '1: lo: <LOOPBACK,UP,'* ]]
	run -0 np_offline cat /etc/resolv.conf
	assert_output 'nameserver 127.0.0.1'
	assert_equal "$(cat /etc/resolv.conf)" "$before"
}

@test "lint-tests names each lookup outside a namespace, and only those" {
	local f=$BATS_TEST_TMPDIR/sample.bats
	printf '%s\n' "${LINT_SAMPLE//TEST/@test}" >"$f"
	run -1 "$BATS_TEST_DIRNAME/lint-tests" "$f"
	assert_equal "$output" "$(printf "$f:%s: resolves %s outside a namespace; run it under np_offline\n" \
	    3 nosuch.invalid 4 no-such-host 5 bad.example 6 bad-proxy.test \
	    7 socks4-dest 8 bad-py.invalid 11 bad-nc.example.com \
	    12 bad-allow.invalid 13 badpipe)"
}

@test "lint-tests passes the suite itself" {
	run -0 "$BATS_TEST_DIRNAME/lint-tests"
	assert_output ""
}

@test "test/run runs only the files and directories it is given" {
	local dir=$BATS_TEST_TMPDIR/t
	mkdir -p "$dir/sub"
	printf '@test "one" { true; }\n' >"$dir/one.bats"
	printf '@test "%s" { true; }\n' two three >"$dir/sub/two.bats"
	cd "$dir"
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --count one.bats
	assert_line --index 0 1
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --jobs 2 one.bats sub
	assert_line --partial 'ok 1 '
	assert_line '3 passed, 0 failed, 0 skipped'
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --count
	assert_line --index 0 "$(bats --count "$BATS_TEST_DIRNAME")"
}
