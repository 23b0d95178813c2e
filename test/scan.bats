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
