#!/usr/bin/env bats
# Time values as ncat writes them (issue 18): -w, -i, -q and
# --accept-timeout take 1.5, 500ms, 2s, 1m and 1h, and a sub-second -w is
# honoured.  Timing upper bounds are skipped under NETPIPE_WRAP (valgrind
# takes seconds to start).

load helpers

# Accept every connection, send "hi" and hold it open.
PY_HOLD='
import time
held = []
while True:
    c, _ = s.accept()
    c.sendall(b"hi\n")
    held.append(c)
'


@test "--accept-timeout takes 1.5, 500ms, 0.3S, 2s, 0.01m and 0.0001h and names the time it waited" {
	local i pids=() vals=(1.5 500ms 0.3S 2s 0.01m 0.0001h)
	local want=("1.5 seconds" "0.5 seconds" "0.3 seconds" "2 seconds"
	    "0.6 seconds" "0.36 seconds")
	for i in "${!vals[@]}"; do
		"${NP[@]}" -l --accept-timeout "${vals[i]}" 127.0.0.1 0 \
		    </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/err$i" 3>&- &
		pids+=($!)
		np_track $!
	done
	for i in "${!vals[@]}"; do
		np_status "${pids[i]}"
		assert_equal "$NP_STATUS" 1
		assert_equal "$(cat "$BATS_TEST_TMPDIR/err$i")" \
		    "netpipe: accept: timed out after ${want[i]} (--accept-timeout)"
	done
}

@test "-w 300ms ends an idle connection with exit 0, well under a second" {
	local t0 t1
	np_python_listen STREAM "$PY_HOLD"
	t0=$(np_now)
	run -0 --separate-stderr timeout 10 "${NP[@]}" -w 300ms -d 127.0.0.1 \
	    "$PY_PORT"
	t1=$(np_now)
	assert_output hi
	assert_equal "$stderr" ""
	((t1 - t0 >= 250)) || fail "ended after $((t1 - t0)) ms"
	[ -n "${NETPIPE_WRAP:-}" ] || ((t1 - t0 < 900)) ||
	    fail "ended after $((t1 - t0)) ms"
}

@test "--wait 0.3 gives up connecting to an unanswering port, well under a second" {
	local t0 t1
	np_python_listen STREAM "$PY_BLACKHOLE"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^full$'
	t0=$(np_now)
	run -1 --separate-stderr timeout 10 "${NP[@]}" --wait 0.3 127.0.0.1 \
	    "$PY_PORT" </dev/null
	t1=$(np_now)
	assert_equal "$stderr" \
	    "netpipe: connect to 127.0.0.1 port $PY_PORT (tcp) timed out: Operation now in progress (no answer in 0.3 s, -w)"
	((t1 - t0 >= 250)) || fail "gave up after $((t1 - t0)) ms"
	[ -n "${NETPIPE_WRAP:-}" ] || ((t1 - t0 < 900)) ||
	    fail "gave up after $((t1 - t0)) ms"
}

@test "-w 1m and --wait 1h keep an idle connection open past a second" {
	local pids=() pid
	np_python_listen STREAM "$PY_HOLD"
	"${NP[@]}" -w 1m -d 127.0.0.1 "$PY_PORT" >/dev/null 2>&1 3>&- &
	pids+=($!)
	np_track $!
	"${NP[@]}" --wait 1h -d 127.0.0.1 "$PY_PORT" >/dev/null 2>&1 3>&- &
	pids+=($!)
	np_track $!
	for pid in "${pids[@]}"; do
		np_alive_for "$pid" 1200
	done
}

@test "-q 200ms quits after input ends while the peer stays open" {
	np_python_listen STREAM "$PY_HOLD"
	run -0 --separate-stderr timeout 10 "${NP[@]}" -q 200ms 127.0.0.1 \
	    "$PY_PORT" <<<"bye"
	assert_output hi
	assert_equal "$stderr" ""
}

@test "-i 0.3s paces lines at least 0.25 s apart" {
	np_python_listen STREAM "$PY_CHUNKS"
	run --separate-stderr timeout 10 "${NP[@]}" -i 0.3s -N 127.0.0.1 \
	    "$PY_PORT" < <(printf 'one\ntwo\n')
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9.]+$'
	mapfile -t py <"$BATS_TEST_TMPDIR/py.out"
	assert_equal "${py[0]}" "$(np_hex 'one\n') $(np_hex 'two\n')"
	awk -v g="${py[1]}" 'BEGIN { exit !(g >= 0.25) }' ||
	    fail "lines only ${py[1]} s apart"
	[ -n "${NETPIPE_WRAP:-}" ] ||
	    awk -v g="${py[1]}" 'BEGIN { exit !(g < 0.9) }' ||
	    fail "lines ${py[1]} s apart"
}

@test "a time that does not parse is a usage error naming it" {
	local v
	for v in 1x 1.2.3 ms . '1 s' ' 1' 1e3 +1 2d 1sec; do
		np_fails 2 "netpipe: -w: \"$v\" is invalid" -w "$v" 127.0.0.1 1
	done
	np_fails 2 'netpipe: -i: "5 m" is invalid' -i '5 m' 127.0.0.1 1
	np_fails 2 'netpipe: -q: "1hh" is invalid' -q 1hh 127.0.0.1 1
	np_fails 2 'netpipe: --accept-timeout: "1min" is invalid' \
	    -l --accept-timeout 1min 0
}

@test "a time out of range is a usage error naming it" {
	np_fails 2 'netpipe: -w: "0ms" is too small' -w 0ms 127.0.0.1 1
	np_fails 2 'netpipe: -w: "0.0001" is too small' -w 0.0001 127.0.0.1 1
	np_fails 2 'netpipe: -w: "-1s" is too small' -w -1s 127.0.0.1 1
	np_fails 2 'netpipe: -w: "600h" is too large' -w 600h 127.0.0.1 1
	# Past what a long long holds in milliseconds (UBSan would see it).
	np_fails 2 'netpipe: -w: "9999999999999h" is too large' \
	    -w 9999999999999h 127.0.0.1 1
	np_fails 2 'netpipe: -i: "24.1h" is too large' -i 24.1h 127.0.0.1 1
	np_fails 2 'netpipe: -q: "99999999999999999999" is too large' \
	    -q 99999999999999999999 127.0.0.1 1
	np_fails 2 'netpipe: --accept-timeout: "0s" is too small' \
	    -l --accept-timeout 0s 0
}

@test "-w 500ms gives up on a proxy that never answers and says after how long" {
	np_python_listen STREAM '
import time
c, _ = s.accept()
time.sleep(30)
'
	np_fails 1 "netpipe: proxy 127.0.0.1 port $PY_PORT: no answer from the proxy within 0.5 s" \
	    -w 500ms -X connect -x "127.0.0.1:$PY_PORT" 127.0.0.1 9
}
