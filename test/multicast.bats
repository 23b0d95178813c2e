#!/usr/bin/env bats
# UDP multicast receive (--join GROUP[@iface]) and broadcast (-b).
# IPv4 runs on loopback: a python3 sender with IP_MULTICAST_LOOP reaches
# a group joined on lo.  IPv6 cannot send multicast through lo, so it
# runs in a network namespace the test creates, on a veth pair.

load helpers

NS=""

teardown() {
	np_cleanup
	if [ -n "$NS" ]; then
		ip netns del "$NS" 2>/dev/null || true
	fi
}

# A group no other test uses at the same time.
group4() {
	echo "239.255.$((RANDOM % 250 + 1)).$((BATS_TEST_NUMBER % 250 + 1))"
}

# send_mcast FAMILY GROUP PORT IFINDEX TEXT [NETNS]: one datagram to
# GROUP, sent out of interface IFINDEX with multicast loop on.
send_mcast() {
	local pre=()
	[ -n "${6:-}" ] && pre=(ip netns exec "$6")
	timeout 10 "${pre[@]}" python3 -c '
import socket, sys
fam, group, port, ifindex, text = sys.argv[1:6]
if fam == "4":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
        socket.inet_aton("127.0.0.1"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    s.sendto(text.encode(), (group, int(port)))
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF,
        int(ifindex))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
    s.sendto(text.encode(), (group, int(port)))
' "$@"
}

# The /proc/net/igmp spelling of an IPv4 group: the address as a
# host-order hex number.
igmp_hex() {
	python3 -c 'import socket, sys; print("%08X" % int.from_bytes(
	    socket.inet_aton(sys.argv[1]), sys.byteorder))' "$1"
}

@test "--join GROUP@lo: a UDP listener receives what is sent to an IPv4 group" {
	g=$(group4)
	np_listen_exec -vv -u -W 1 --join "$g@lo" 0
	grep -qxF "netpipe: IP_ADD_MEMBERSHIP $g@lo ifindex 1" \
	    "$BATS_TEST_TMPDIR/listen.err"
	grep -q "^Bound on 0.0.0.0 $NP_PORT\$" "$BATS_TEST_TMPDIR/listen.err"
	send_mcast 4 "$g" "$NP_PORT" 1 "to the group"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "to the group"
}

@test "--join makes the kernel list the membership on lo while netpipe runs, and only then" {
	g=$(group4)
	hex=$(igmp_hex "$g")
	np_listen_exec -u --join "$g@lo" 0
	# /proc/net/igmp: an interface line, then one line per group.
	awk -v g="$hex" '/^[0-9]/ { dev = $2 } $1 == g { print dev }' \
	    /proc/net/igmp | grep -qx lo || fail "$g is not joined on lo"
	kill "$NP_PID"
	np_wait_exit "$NP_PID"
	! awk -v g="$hex" '$1 == g' /proc/net/igmp | grep -q . ||
	    fail "$g is still joined after netpipe exited"
}

@test "--join on a listener with -k takes datagrams to the group from two senders" {
	g=$(group4)
	np_listen_exec -u -k -W 2 --join "$g@lo" 0
	send_mcast 4 "$g" "$NP_PORT" 1 "first"
	np_wait_for "$BATS_TEST_TMPDIR/out" first
	send_mcast 4 "$g" "$NP_PORT" 1 "second"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "firstsecond"
}

@test "--join an IPv6 group on a veth in a network namespace receives what is sent to it" {
	NS="netpipe-mc-$$-$RANDOM"
	ip netns add "$NS" 2>/dev/null ||
	    skip "cannot create a network namespace (needs CAP_SYS_ADMIN)"
	ip -n "$NS" link set lo up
	ip -n "$NS" link add mc0 type veth peer name mc1 2>/dev/null ||
	    skip "the kernel has no veth devices"
	ip -n "$NS" link set mc1 up
	ip -n "$NS" link set mc0 up
	# nodad: usable at once, no duplicate address detection to wait for.
	ip -n "$NS" -6 addr add fd4e:5050::1/64 dev mc0 nodad
	ifindex=$(ip netns exec "$NS" cat /sys/class/net/mc0/ifindex)
	: >"$BATS_TEST_TMPDIR/listen.err"
	ip netns exec "$NS" "${NP[@]}" -vv -lu -W 1 --join ff15::4e50:1@mc0 0 \
	    </dev/null >"$BATS_TEST_TMPDIR/out" \
	    2>"$BATS_TEST_TMPDIR/listen.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Bound on :: '
	port=$(awk '/^Bound on/ { print $NF }' "$BATS_TEST_TMPDIR/listen.err")
	grep -qxF "netpipe: IPV6_JOIN_GROUP ff15::4e50:1@mc0 ifindex $ifindex" \
	    "$BATS_TEST_TMPDIR/listen.err"
	ip netns exec "$NS" grep -q 'mc0 *ff15000000000000000000004e500001' \
	    /proc/net/igmp6 || fail "not joined: $(ip netns exec "$NS" \
	    cat /proc/net/igmp6)"
	send_mcast 6 ff15::4e50:1 "$port" "$ifindex" "to the v6 group" "$NS"
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "to the v6 group"
}

@test "--join with an interface that does not exist exits 1 naming it" {
	np_fails 1 'netpipe: --join 239.255.0.1@nosuchif0: nosuchif0: No such device' \
	    -lu --join 239.255.0.1@nosuchif0 0
}

@test "--join refuses what is not a multicast group, and an IPv4 group with -6, with exit 2" {
	np_fails 2 'netpipe: --join: "10.0.0.1" is not a multicast group' \
	    -lu --join 10.0.0.1 0
	np_fails 2 'netpipe: --join: "nonsense" is not a multicast group' \
	    -lu --join nonsense@lo 0
	np_fails 2 'netpipe: --join: "239.1.2.3" is not an IPv6 group' \
	    -lu -6 --join 239.1.2.3 0
	np_fails 2 'netpipe: --join: "239.1.2.3@": bad interface name' \
	    -lu --join 239.1.2.3@ 0
}

@test "--join needs a UDP listener" {
	np_fails 2 'netpipe: --join requires -u' -l --join 239.1.2.3 0
	np_fails 2 'netpipe: --join requires -l' -u --join 239.1.2.3 \
	    127.0.0.1 9
	np_fails 2 'netpipe: --join and -U cannot be used together' \
	    -luU --join 239.1.2.3 "$BATS_TEST_TMPDIR/s"
}

@test "-b lets a UDP client send to the loopback broadcast address; without it the kernel refuses" {
	# Only a socket bound to the wildcard address hears a broadcast.
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
print(s.recv(65536).decode(), end="", flush=True)
' "$BATS_TEST_TMPDIR/py.port" >"$BATS_TEST_TMPDIR/py.out" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/py.port" '^[0-9]+$'
	PY_PORT=$(cat "$BATS_TEST_TMPDIR/py.port")
	np_fails 1 "netpipe: connect to 127.255.255.255 port $PY_PORT (udp) failed: Permission denied" \
	    -u -q 0 127.255.255.255 "$PY_PORT"
	run --separate-stderr timeout 10 "${NP[@]}" -u -b -q 0 \
	    127.255.255.255 "$PY_PORT" <<<"to everyone"
	assert_success
	np_wait_for "$BATS_TEST_TMPDIR/py.out" 'to everyone'
}
