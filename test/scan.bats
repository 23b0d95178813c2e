#!/usr/bin/env bats
# -z port scans against blocks of consecutive ports held by python3
# (np_hold_ports): open and closed ports, ranges, lists, -r, -i, -u.

load helpers

# The "succeeded!" lines of the last run's stderr.
succeeded() {
	grep 'succeeded!$' <<<"$stderr" || true
}

@test "-z on an open port exits 0 and prints nothing" {
	np_hold_ports o
	run --separate-stderr timeout 10 "${NP[@]}" -z 127.0.0.1 "$HOLD_PORT"
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "-z on a closed port exits 1 and prints nothing" {
	np_hold_ports c
	run --separate-stderr timeout 10 "${NP[@]}" -z 127.0.0.1 "$HOLD_PORT"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" ""
}

@test "-z -v over a range P-P2 reports each open port in port order" {
	np_hold_ports ococo
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 \
	    "$p-$((p + 4))"
	assert_success
	assert_output ""
	assert_equal "$(succeeded)" "$(np_scan_ok "$p")
$(np_scan_ok $((p + 2)))
$(np_scan_ok $((p + 4)))"
}

@test "-z -v with a comma list P,Q reports only the listed open ports" {
	np_hold_ports oooc
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 \
	    "$p,$((p + 2)),$((p + 3))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p")
$(np_scan_ok $((p + 2)))"
}

@test "-z -v with several port arguments, a range and a list, reports every open one" {
	np_hold_ports ococo
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 "$p" \
	    "$((p + 1))-$((p + 2))" "$((p + 3)),$((p + 4))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p")
$(np_scan_ok $((p + 2)))
$(np_scan_ok $((p + 4)))"
}

@test "-z -r in random order still reports every open port" {
	np_hold_ports oocoo
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -r -v 127.0.0.1 \
	    "$p-$((p + 4))"
	assert_success
	assert_equal "$(succeeded | sort)" "$(for q in $p $((p + 1)) \
	    $((p + 3)) $((p + 4)); do np_scan_ok "$q"; done | sort)"
}

@test "--scan --random-ports --verbose are the long spellings of -z -r -v" {
	np_hold_ports co
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" --scan --random-ports \
	    --verbose 127.0.0.1 "$p-$((p + 1))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok $((p + 1)))"
}

@test "-z sends nothing to the open port, even with input on stdin" {
	np_hold_ports o
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 "$p" \
	    <<<"this must not be sent"
	assert_success
	assert_output ""
	np_wait_for "$BATS_TEST_TMPDIR/hold.log" "^closed $p "
	assert_equal "$(grep '^closed' "$BATS_TEST_TMPDIR/hold.log")" \
	    "closed $p 0"
}

@test "-z -i 1 waits at least 0.9 s between ports" {
	np_hold_ports oo
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -i 1 127.0.0.1 \
	    "$p-$((p + 1))"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/hold.log" "^accept $((p + 1)) "
	t1=$(awk -v p="$p" '$1 == "accept" && $2 == p { print $3 }' \
	    "$BATS_TEST_TMPDIR/hold.log")
	t2=$(awk -v p=$((p + 1)) '$1 == "accept" && $2 == p { print $3 }' \
	    "$BATS_TEST_TMPDIR/hold.log")
	awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b - a >= 0.9) }' ||
	    fail "probes only $t1 -> $t2 apart"
}

@test "-zu reports a bound UDP port and not one that answers ICMP port unreachable" {
	# A UDP scan can only tell "refused" (ICMP port unreachable) from
	# "not refused"; the held closed port is bound but connected to
	# another peer, so the kernel refuses our datagrams.
	np_hold_ports oc DGRAM
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -zu -v 127.0.0.1 "$p"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p" udp)"
	run --separate-stderr timeout 10 "${NP[@]}" -zu -v 127.0.0.1 \
	    $((p + 1))
	assert_failure 1
	assert_equal "$(succeeded)" ""
	run --separate-stderr timeout 10 "${NP[@]}" -zu -v 127.0.0.1 \
	    "$p-$((p + 1))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p" udp)"
}

@test "-z with a reversed range P2-P scans the range, as nc.openbsd does" {
	np_hold_ports oco
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 \
	    "$((p + 2))-$p"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p")
$(np_scan_ok $((p + 2)))"
}

@test "-z -v over a range of closed ports exits 1 and reports no success" {
	np_hold_ports ccc
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 \
	    "$p-$((p + 2))"
	assert_failure 1
	assert_output ""
	assert_equal "$(succeeded)" ""
}

@test "-z over 1000 ports probes them in parallel and reports every open one, in port order, well under a second" {
	# np_hold_ports holds one socket per port.
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && ((hard < 1200)); then
		skip "the descriptor limit is below 1200"
	fi
	ulimit -Sn "$hard"
	pat=$(python3 -c 'print("".join("o" if i % 97 == 3 or i == 999
	    else "c" for i in range(1000)))')
	np_hold_ports "$pat"
	p=$HOLD_PORT
	t0=$(np_now)
	run --separate-stderr timeout 10 "${NP[@]}" -z -v 127.0.0.1 \
	    "$p-$((p + 999))"
	t1=$(np_now)
	assert_success
	assert_output ""
	assert_equal "$(succeeded)" "$(for ((i = 0; i < 1000; i++)); do
		((i % 97 == 3 || i == 999)) && np_scan_ok $((p + i))
	done)"
	# Every closed port is reported too, in order, between them.
	assert_equal "${#stderr_lines[@]}" 1000
	assert_equal "${stderr_lines[1]}" \
	    "netpipe: connect to 127.0.0.1 port $((p + 1)) (tcp) failed: Connection refused"
	if [ -z "${NETPIPE_WRAP:-}" ]; then
		(((t1 - t0) < 1000)) || fail "took $((t1 - t0)) ms"
	fi
}

# silent_ports N: hold N consecutive ports on 127.0.0.1 whose listen
# queue is full, so that the kernel drops every SYN and a connect hangs
# (a filtered port, as far as a scan can tell).  Sets SILENT_PORT.
silent_ports() {
	local first=$BATS_TEST_TMPDIR/silent.port
	rm -f "$first"
	python3 -c '
import os, socket, sys, threading
n, first = int(sys.argv[1]), sys.argv[2]
while True:
    socks = []
    base = socket.socket()
    base.bind(("127.0.0.1", 0))
    p0 = base.getsockname()[1]
    socks.append(base)
    try:
        for i in range(1, n):
            s = socket.socket()
            s.bind(("127.0.0.1", p0 + i))
            socks.append(s)
        break
    except OSError:
        for s in socks:
            s.close()
fillers = []
for s in socks:
    s.listen(0)
    # With a backlog of 0 one queued connection fills the queue.
    c = socket.socket()
    c.connect(s.getsockname())
    fillers.append(c)
with open(first + ".tmp", "w") as f:
    f.write(str(p0))
os.rename(first + ".tmp", first)
threading.Event().wait(60)
' "$1" "$first" 3>&- &
	np_track $!
	np_wait_for "$first" '^[0-9]+$' || return 1
	SILENT_PORT=$(cat "$first")
}

@test "--scan-parallel 8 waits out 8 silent ports with -w 1 in about a second, not eight, and reports them in order" {
	silent_ports 8
	p=$SILENT_PORT
	t0=$(np_now)
	run --separate-stderr timeout 10 "${NP[@]}" -z -v -w 1 \
	    --scan-parallel 8 127.0.0.1 "$p-$((p + 7))"
	t1=$(np_now)
	assert_failure 1
	assert_equal "$stderr" "$(for ((i = 0; i < 8; i++)); do
		echo "netpipe: connect to 127.0.0.1 port $((p + i)) (tcp) timed out: Operation now in progress (no answer in 1 s, -w)"
	done)"
	# One at a time would take 8 s; valgrind (NETPIPE_WRAP) adds 2 s.
	limit=3000
	[ -z "${NETPIPE_WRAP:-}" ] || limit=6000
	(((t1 - t0) >= 900 && (t1 - t0) < limit)) ||
	    fail "took $((t1 - t0)) ms"
}

@test "--scan-parallel 2 bounds the probes in flight: 4 silent ports with -w 1 take two rounds" {
	silent_ports 4
	p=$SILENT_PORT
	t0=$(np_now)
	run --separate-stderr timeout 10 "${NP[@]}" -z -w 1 --scan-parallel 2 \
	    127.0.0.1 "$p-$((p + 3))"
	t1=$(np_now)
	assert_failure 1
	# Two at a time: two rounds of -w 1, where 16 would take one.
	limit=3900
	[ -z "${NETPIPE_WRAP:-}" ] || limit=5900
	(((t1 - t0) >= 1900 && (t1 - t0) < limit)) ||
	    fail "took $((t1 - t0)) ms"
}

@test "--scan-parallel 1 scans one port at a time and reports the same" {
	np_hold_ports ococo
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -z -v --scan-parallel 1 \
	    127.0.0.1 "$p-$((p + 4))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p")
$(np_scan_ok $((p + 2)))
$(np_scan_ok $((p + 4)))"
}

@test "-zu probes UDP ports in parallel and reports them in port order" {
	np_hold_ports ocooc DGRAM
	p=$HOLD_PORT
	run --separate-stderr timeout 10 "${NP[@]}" -zu -v 127.0.0.1 \
	    "$p-$((p + 4))"
	assert_success
	assert_equal "$(succeeded)" "$(np_scan_ok "$p" udp)
$(np_scan_ok $((p + 2)) udp)
$(np_scan_ok $((p + 3)) udp)"
}

@test "--scan-parallel needs -z and a count from 1 to 1024" {
	np_fails 2 'netpipe: --scan-parallel requires -z' --scan-parallel 4 \
	    127.0.0.1 1
	np_fails 2 'netpipe: --scan-parallel: "0" is too small' -z \
	    --scan-parallel 0 127.0.0.1 1
	np_fails 2 'netpipe: --scan-parallel: "1025" is too large' -z \
	    --scan-parallel 1025 127.0.0.1 1
}
