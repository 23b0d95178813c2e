#!/usr/bin/env bats
# Fault injection (issue 8): a peer that resets or stops reading, a full
# disk, a closed stdout, a failing stdin, refused and unreachable
# destinations, a failed lookup, running out of descriptors, signals in
# the middle of a transfer, and a lossy, slow link between two network
# namespaces.  Each test asserts the exit code, the one message, and that
# what arrived before the fault is an intact prefix of what was sent (or,
# where the sender's kernel had it acknowledged, all of it).

load helpers

# Network namespaces and a tmpfs this test made, removed by teardown.
FAULT_NS=()
FAULT_MNT=

teardown() {
	local ns
	np_cleanup
	if [ -n "$FAULT_MNT" ]; then
		umount -l "$FAULT_MNT" 2>/dev/null || true
	fi
	for ns in "${FAULT_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

# python3 peers.  Servers run under np_python_listen (with `s` listening);
# the others take their arguments on the command line.

# Read exactly NP_PY_N bytes, print "COUNT SHA256" of them, then close
# with SO_LINGER {1, 0} so that the sender gets a reset mid-transfer.
PY_READ_N_RESET='
import hashlib, os, struct
n = int(os.environ["NP_PY_N"])
c, a = s.accept()
h = hashlib.sha256()
got = 0
while got < n:
    d = c.recv(min(65536, n - got))
    if not d:
        break
    h.update(d)
    got += len(d)
print(got, h.hexdigest(), flush=True)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
'

# Read to EOF (or a reset) and print "COUNT SHA256" of what arrived.
PY_COUNT='
import hashlib
c, a = s.accept()
h = hashlib.sha256()
got = 0
try:
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
except OSError:
    pass
print(got, h.hexdigest(), flush=True)
'

# As PY_COUNT, and print "1MiB" as soon as one MiB has arrived.
PY_COUNT_PROGRESS='
import hashlib
c, a = s.accept()
h = hashlib.sha256()
got = 0
try:
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        if got < 1 << 20 <= got + len(d):
            print("1MiB", flush=True)
        h.update(d)
        got += len(d)
except OSError:
    pass
print(got, h.hexdigest(), flush=True)
'

# Client: send the file argv[2] to 127.0.0.1 port argv[1], wait until
# the receiver has acknowledged every byte (SIOCOUTQ is 0), then reset.
PY_SEND_ACKED_RESET='
import fcntl, socket, struct, sys, termios, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[2], "rb") as f:
    c.sendall(f.read())
for i in range(500):
    q = fcntl.ioctl(c, termios.TIOCOUTQ, b"\0\0\0\0")
    if struct.unpack("i", q)[0] == 0:
        break
    time.sleep(0.02)
else:
    sys.exit("the receiver never acknowledged everything")
print("acked", flush=True)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
'

# Write argv[1] MiB of random data (with NUL bytes) to the path argv[2]
# (a fifo), then print the SHA256 of all of it.
PY_GENERATE='
import hashlib, os, sys
mib, path = int(sys.argv[1]), sys.argv[2]
h = hashlib.sha256()
chunk = bytearray(os.urandom(1 << 20))
with open(path, "wb") as f:
    for i in range(mib):
        chunk[0:8] = i.to_bytes(8, "little")
        f.write(chunk)
        h.update(chunk)
print(h.hexdigest(), flush=True)
'

# Server: send NP_PY_MIB MiB of random data as fast as the receiver takes
# it, writing the running total to NP_PY_SENT after each MiB; then print
# the SHA256 of all of it and close.
PY_FLOOD_COUNTED='
import hashlib, os
mib, sent = int(os.environ["NP_PY_MIB"]), os.environ["NP_PY_SENT"]
c, a = s.accept()
h = hashlib.sha256()
chunk = bytearray(os.urandom(1 << 20))
for i in range(mib):
    chunk[0:8] = i.to_bytes(8, "little")
    c.sendall(chunk)
    h.update(chunk)
    with open(sent + ".tmp", "w") as f:
        f.write(str(i + 1))
    os.replace(sent + ".tmp", sent)
print(h.hexdigest(), flush=True)
c.close()
'

# Reader: wait (bounded) for the file argv[2] to appear, then read the
# path argv[1] (a fifo or a socket's port) to EOF, print "COUNT SHA256".
PY_LATE_READER='
import hashlib, os, socket, sys, time
src, go = sys.argv[1], sys.argv[2]
if src.isdigit():
    c = socket.create_connection(("127.0.0.1", int(src)))
    print("connected", flush=True)
    f = c.makefile("rb", buffering=0)
else:
    f = open(src, "rb", buffering=0)
for i in range(1500):
    if os.path.exists(go):
        break
    time.sleep(0.02)
h = hashlib.sha256()
got = 0
while True:
    d = f.read(1 << 20)
    if not d:
        break
    h.update(d)
    got += len(d)
print(got, h.hexdigest(), flush=True)
'

# Reader: read exactly argv[2] bytes from the fifo argv[1], print
# "COUNT SHA256" of them and exit, closing the fifo's read end.
PY_READ_N_FIFO='
import hashlib, sys
n = int(sys.argv[2])
h = hashlib.sha256()
got = 0
with open(sys.argv[1], "rb", buffering=0) as f:
    while got < n:
        d = f.read(min(65536, n - got))
        if not d:
            break
        h.update(d)
        got += len(d)
print(got, h.hexdigest(), flush=True)
'

# Run netpipe (argv[4:]) with standard input a TCP connection from which
# it can read the file argv[1]; once netpipe's side has acknowledged all
# of it, reset that connection, so that the next read of stdin fails.
# Then wait (at most 2 s) for netpipe to say so on its stderr (the file
# argv[2]) or to exit, and create the file argv[3], which lets the peer
# start reading.  Prints netpipe's exit status.
PY_STDIN_RESET='
import fcntl, os, socket, struct, subprocess, sys, termios, time
data, errpath, go = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
src = socket.create_connection(l.getsockname())
feed, _ = l.accept()
with open(errpath, "wb") as err:
    p = subprocess.Popen(sys.argv[4:], stdin=src, stdout=subprocess.DEVNULL,
        stderr=err)
src.close()
feed.sendall(data)
for i in range(500):
    q = fcntl.ioctl(feed, termios.TIOCOUTQ, b"\0\0\0\0")
    if struct.unpack("i", q)[0] == 0:
        break
    time.sleep(0.02)
feed.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
feed.close()
for i in range(100):
    if os.path.getsize(errpath) > 0 or p.poll() is not None:
        break
    time.sleep(0.02)
open(go, "w").close()
try:
    print(p.wait(timeout=10), flush=True)
except subprocess.TimeoutExpired:
    p.kill()
    print("timeout", flush=True)
'

# A peer with a 4 KiB receive buffer that reads nothing until the file
# NP_PY_GO appears (bounded), then reads to EOF and prints "COUNT SHA256".
PY_SMALL_LATE='
import hashlib, os, time
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c, a = s.accept()
for i in range(1000):
    if os.path.exists(os.environ["NP_PY_GO"]):
        break
    time.sleep(0.02)
h = hashlib.sha256()
got = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
    got += len(d)
print(got, h.hexdigest(), flush=True)
'

# Client: send the file argv[2] over the Unix socket argv[1] at about
# 8 MiB/s, so that a transfer is still going when the test interrupts it.
PY_UNIX_PACED='
import socket, sys, time
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    data = f.read()
try:
    for i in range(0, len(data), 65536):
        c.sendall(data[i:i + 65536])
        time.sleep(0.008)
except OSError:
    pass
'

# Write the file argv[1] to stdout: 1 MiB at once, then 64 KiB every
# 10 ms, so that a transfer is still going when the test interrupts it.
PY_PACE='
import sys, time
out = sys.stdout.buffer
with open(sys.argv[1], "rb") as f:
    try:
        out.write(f.read(1 << 20))
        while True:
            d = f.read(65536)
            if not d:
                break
            out.write(d)
            out.flush()
            time.sleep(0.01)
    except BrokenPipeError:
        pass
'

# np_prefix_sha FILE COUNT: the SHA256 of the first COUNT bytes of FILE.
np_prefix_sha() {
	head -c "$2" "$1" | sha256sum | cut -d' ' -f1
}

# np_assert_prefix RECEIVED SENT: RECEIVED is an intact prefix of SENT.
np_assert_prefix() {
	local n
	n=$(stat -c %s "$1")
	assert_equal "$(np_sha "$1")" "$(np_prefix_sha "$2" "$n")"
}

# np_quiet_err FILE: FILE without the -v lines of a listener.
np_quiet_err() {
	grep -vE '^(Listening on |Connection received on |Connection closed|Peers connected: |netpipe: sent .* received )' "$1" || true
}

# np_netns: create a network namespace for this test (removed by
# teardown) and print its name; skip the test when that is not allowed.
np_netns() {
	local ns=np$BASHPID-$RANDOM
	ip netns add "$ns" 2>/dev/null ||
	    skip "cannot create a network namespace here (ip netns add)"
	FAULT_NS+=("$ns")
	ip -n "$ns" link set lo up
	NS=$ns
}

# np_plain_binary: true when the binary's own memory is measured (not ASan's or
# valgrind's, whose shadow memory and quarantine grow by design).
np_plain_binary() {
	[[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]
}

@test "a peer that resets mid-transfer ends a sender from a pipe with exit 1, and what it read is intact" {
	local in n sha
	in=$(np_random_file in 16M)
	NP_PY_N=$((3 * 1024 * 1024 + 12345)) np_python_listen STREAM "$PY_READ_N_RESET"
	np_io <(cat "$in") /dev/null 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ (send|recv):\ Connection\ reset\ by\ peer$ ]] ||
	    fail "stderr: $NP_STDERR"
	read -r n sha <"$BATS_TEST_TMPDIR/py.out"
	assert_equal "$n" $((3 * 1024 * 1024 + 12345))
	assert_equal "$sha" "$(np_prefix_sha "$in" "$n")"
}

@test "a peer that resets mid-transfer ends a sender from a regular file (sendfile) with exit 1, and what it read is intact" {
	local in n sha
	in=$(np_random_file in 16M)
	NP_PY_N=$((5 * 1024 * 1024 + 777)) np_python_listen STREAM "$PY_READ_N_RESET"
	np_io "$in" /dev/null 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ (send|recv):\ Connection\ reset\ by\ peer$ ]] ||
	    fail "stderr: $NP_STDERR"
	read -r n sha <"$BATS_TEST_TMPDIR/py.out"
	assert_equal "$n" $((5 * 1024 * 1024 + 777))
	assert_equal "$sha" "$(np_prefix_sha "$in" "$n")"
}

@test "a client that resets after its 4 MiB were acknowledged: the listener writes all of them to --output and exits 1" {
	local in out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	np_listen_exec --output "$out" 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_SEND_ACKED_RESET" "$NP_PORT" "$in"
	assert_output acked
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	assert_equal "$(np_quiet_err "$BATS_TEST_TMPDIR/listen.err")" \
	    "netpipe: recv: Connection reset by peer"
	# Acknowledged by netpipe's kernel, so none of it may be lost.
	assert_equal "$(stat -c %s "$out")" $((4 * 1024 * 1024))
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "a peer that stops reading holds a listener's memory flat while 256 MiB wait, then all of them arrive" {
	local fifo=$BATS_TEST_TMPDIR/in.fifo go=$BATS_TEST_TMPDIR/go
	local gen=$BATS_TEST_TMPDIR/gen.out rd=$BATS_TEST_TMPDIR/reader.out
	local rss n sha rpid
	mkfifo "$fifo"
	python3 -c "$PY_GENERATE" 256 "$fifo" >"$gen" 3>&- &
	np_track $!
	NP_IN=$fifo np_listen_exec -N 127.0.0.1 0
	python3 -c "$PY_LATE_READER" "$NP_PORT" "$go" >"$rd" 3>&- &
	rpid=$!
	np_track "$rpid"
	np_wait_for "$rd" '^connected$'
	# netpipe stops reading its input once the socket is full.
	np_wait_stalled np_rchar "$NP_PID"
	rss=$(np_rss_kb "$NP_PID")
	echo "# stalled after reading $NP_STALLED bytes, VmRSS ${rss} KiB" >&3
	((NP_STALLED < 64 * 1024 * 1024))
	if np_plain_binary; then
		((rss < 16 * 1024)) || fail "VmRSS ${rss} KiB while stalled"
	fi
	touch "$go"
	np_status "$NP_PID" 30
	assert_equal "$NP_STATUS" 0
	np_status "$rpid" 30
	read -r n sha < <(sed -n 2p "$rd")
	assert_equal "$n" $((256 * 1024 * 1024))
	np_wait_for "$gen" '^[0-9a-f]{64}$'
	assert_equal "$sha" "$(cat "$gen")"
	assert_equal "$(np_quiet_err "$BATS_TEST_TMPDIR/listen.err")" ""
}

@test "a stdout nobody reads holds a client's memory flat while a peer offers 256 MiB, then all of them arrive" {
	local fifo=$BATS_TEST_TMPDIR/out.fifo go=$BATS_TEST_TMPDIR/go
	local sent=$BATS_TEST_TMPDIR/sent rd=$BATS_TEST_TMPDIR/reader.out
	local rss n sha pid rpid
	mkfifo "$fifo"
	NP_PY_MIB=256 NP_PY_SENT=$sent np_python_listen STREAM "$PY_FLOOD_COUNTED"
	python3 -c "$PY_LATE_READER" "$fifo" "$go" >"$rd" 3>&- &
	rpid=$!
	np_track "$rpid"
	"${NP[@]}" 127.0.0.1 "$PY_PORT" </dev/null >"$fifo" \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$sent" '^[0-9]+$'
	# The peer can send no more once netpipe stops reading the socket.
	np_wait_stalled cat "$sent"
	rss=$(np_rss_kb "$pid")
	echo "# peer stalled after $NP_STALLED MiB, VmRSS ${rss} KiB" >&3
	((NP_STALLED < 64))
	if np_plain_binary; then
		((rss < 16 * 1024)) || fail "VmRSS ${rss} KiB while stalled"
	fi
	touch "$go"
	np_status "$pid" 30
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" ""
	np_status "$rpid" 30
	read -r n sha <"$rd"
	assert_equal "$n" $((256 * 1024 * 1024))
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$sha" "$(cat "$BATS_TEST_TMPDIR/py.out")"
}

@test "a full file system under --output exits 1 with No space left on device, and the file holds an intact prefix" {
	local data mnt=$BATS_TEST_TMPDIR/small out size
	mkdir "$mnt"
	mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null ||
	    skip "cannot mount a tmpfs here (the /dev/full test covers ENOSPC)"
	FAULT_MNT=$mnt
	out=$mnt/got
	data=$(np_random_file data 4M)
	NP_PY_FILE=$data np_python_listen STREAM "$PY_SEND_FILE"
	np_io /dev/null /dev/null --output "$out" 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ (stdout|$out|--output):\ No\ space\ left\ on\ device$ ]] ||
	    fail "stderr: $NP_STDERR"
	size=$(stat -c %s "$out")
	echo "# $size bytes fit before ENOSPC" >&3
	((size > 0 && size <= 1024 * 1024))
	np_assert_prefix "$out" "$data"
}

@test "--output /dev/full exits 1 with No space left on device" {
	local data
	data=$(np_random_file data 4M)
	NP_PY_FILE=$data np_python_listen STREAM "$PY_SEND_FILE"
	np_io /dev/null /dev/null --output /dev/full 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ (stdout|/dev/full|--output):\ No\ space\ left\ on\ device$ ]] ||
	    fail "stderr: $NP_STDERR"
}

@test "a stdout reader that leaves after 1 MiB gets an intact prefix, and netpipe exits 1 with stdout: Broken pipe and the bytes lost" {
	local data fifo=$BATS_TEST_TMPDIR/out.fifo rd=$BATS_TEST_TMPDIR/reader.out
	local n sha rpid
	data=$(np_random_file data 16M)
	mkfifo "$fifo"
	NP_PY_FILE=$data np_python_listen STREAM "$PY_SEND_FILE"
	python3 -c "$PY_READ_N_FIFO" "$fifo" $((1024 * 1024 + 99)) >"$rd" 3>&- &
	rpid=$!
	np_track "$rpid"
	np_io /dev/null "$fifo" 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR =~ ^netpipe:\ stdout:\ Broken\ pipe:\ [1-9][0-9]*\ bytes\ received\ not\ delivered$ ]] ||
	    fail "stderr: $NP_STDERR"
	np_status "$rpid"
	read -r n sha <"$rd"
	assert_equal "$n" $((1024 * 1024 + 99))
	assert_equal "$sha" "$(np_prefix_sha "$data" "$n")"
}

@test "stdin that is a directory exits 1 with stdin: Is a directory and sends nothing" {
	np_python_listen STREAM "$PY_COUNT"
	np_io / /dev/null 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: stdin: Is a directory"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+ '
	assert_equal "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/py.out")" 0
}

@test "stdin that fails with a reset exits 1 with stdin: Connection reset by peer, after sending all it had read" {
	local in n sha go=$BATS_TEST_TMPDIR/go
	# Less than netpipe's buffer, more than the way to a peer that does
	# not read yet: netpipe still holds some of it when stdin fails.
	in=$(np_random_file in 200K)
	NP_PY_GO=$go np_python_listen STREAM "$PY_SMALL_LATE"
	run -0 timeout 15 python3 -c "$PY_STDIN_RESET" "$in" \
	    "$BATS_TEST_TMPDIR/np.err" "$go" "${NP[@]}" -O 4096 127.0.0.1 \
	    "$PY_PORT"
	assert_output 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: stdin: Connection reset by peer"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+ '
	read -r n sha <"$BATS_TEST_TMPDIR/py.out"
	# netpipe had read (and its kernel acknowledged) every byte.
	assert_equal "$n" $((200 * 1024))
	assert_equal "$sha" "$(np_sha "$in")"
}

@test "a refused connection exits 1 with one message and leaves stdin unread" {
	local in rest=$BATS_TEST_TMPDIR/rest rc=0
	in=$(np_random_file in 1M)
	np_closed_port
	{
		timeout 10 "${NP[@]}" 127.0.0.1 "$CLOSED_PORT" >/dev/null \
		    2>"$BATS_TEST_TMPDIR/np.err" || rc=$?
		cat >"$rest"
	} <"$in"
	assert_equal "$rc" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: connect to 127.0.0.1 port $CLOSED_PORT (tcp) failed: Connection refused"
	assert_equal "$(np_sha "$rest")" "$(np_sha "$in")"
}

@test "a namespace with no route: connect fails with Network is unreachable (exit 1), stdin unread" {
	local in rest=$BATS_TEST_TMPDIR/rest rc=0
	np_netns
	in=$(np_random_file in 1M)
	{
		timeout 10 ip netns exec "$NS" "${NP[@]}" 10.1.2.3 80 >/dev/null \
		    2>"$BATS_TEST_TMPDIR/np.err" || rc=$?
		cat >"$rest"
	} <"$in"
	assert_equal "$rc" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: connect to 10.1.2.3 port 80 (tcp) failed: Network is unreachable"
	assert_equal "$(np_sha "$rest")" "$(np_sha "$in")"
}

@test "an unreachable route: connect fails with No route to host (exit 1)" {
	np_netns
	ip -n "$NS" route add unreachable 10.9.9.0/24
	run -1 --separate-stderr timeout 10 ip netns exec "$NS" "${NP[@]}" \
	    10.9.9.9 80 </dev/null
	assert_output ""
	assert_equal "$stderr" \
	    "netpipe: connect to 10.9.9.9 port 80 (tcp) failed: No route to host"
}

@test "a name under .invalid exits 1 with the getaddrinfo message, stdin unread" {
	local in rest=$BATS_TEST_TMPDIR/rest rc=0 why
	np_need_offline
	why=$(np_offline python3 -c '
import socket
try:
    socket.getaddrinfo("netpipe-fault.invalid", 80)
except socket.gaierror as e:
    print(e.strerror)')
	in=$(np_random_file in 64K)
	{
		np_offline timeout 10 "${NP[@]}" netpipe-fault.invalid 80 \
		    >/dev/null 2>"$BATS_TEST_TMPDIR/np.err" || rc=$?
		cat >"$rest"
	} <"$in"
	assert_equal "$rc" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: getaddrinfo for host \"netpipe-fault.invalid\" port 80: $why"
	assert_equal "$(np_sha "$rest")" "$(np_sha "$in")"
}

# Client for the EMFILE test: open four connections to port argv[1]
# (netpipe has descriptors for two), each sending one line; wait until
# netpipe has said it is out of descriptors (its stderr, argv[2]) and
# two lines arrived (its stdout, argv[3]); close all four; wait for the
# other two lines and for netpipe (PID argv[4]) to be back at its idle
# count of descriptors (argv[5]); then one more client sends "late".
# Prints what it saw at each step.
PY_EMFILE_CLIENTS='
import os, socket, sys, time
port, err, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pid, idle = int(sys.argv[4]), int(sys.argv[5])
def wait(cond, what):
    for i in range(500):
        if cond():
            return
        time.sleep(0.02)
    sys.exit("timed out waiting for " + what)
def lines():
    with open(out) as f:
        return f.read().splitlines()
cs = []
for i in range(4):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"client %d\n" % i)
    cs.append(c)
wait(lambda: "Too many open files" in open(err).read(), "EMFILE")
wait(lambda: len(lines()) >= 2, "two lines")
print("served while out of descriptors:", len(lines()), flush=True)
for c in cs:
    c.close()
wait(lambda: len(lines()) >= 4, "all four lines")
wait(lambda: len(os.listdir("/proc/%d/fd" % pid)) <= idle,
    "the descriptors of the four peers to be closed")
late = socket.create_connection(("127.0.0.1", port))
late.sendall(b"late\n")
wait(lambda: "late" in lines(), "the late line")
late.close()
print("lines:", " ".join(sorted(lines())), flush=True)
'

@test "-k --max-conns listener out of descriptors says so once, keeps serving, and serves a later client" {
	local fds=() free=() f limit
	command -v prlimit >/dev/null || skip "prlimit(1) is not installed"
	np_fifo_held in.fifo
	NP_IN=$FIFO np_listen_exec -k --max-conns 8 127.0.0.1 0
	# Leave it room for exactly two peers: the limit is its third free
	# descriptor number.
	mapfile -t fds < <(ls "/proc/$NP_PID/fd" | sort -n)
	for ((f = 0; ${#free[@]} < 3; f++)); do
		[[ " ${fds[*]} " == *" $f "* ]] || free+=("$f")
	done
	limit=${free[2]}
	prlimit --pid "$NP_PID" --nofile="$limit:$limit"
	run -0 timeout 20 python3 -c "$PY_EMFILE_CLIENTS" "$NP_PORT" \
	    "$BATS_TEST_TMPDIR/listen.err" "$BATS_TEST_TMPDIR/out" \
	    "$NP_PID" "${#fds[@]}"
	assert_equal "${lines[0]}" "served while out of descriptors: 2"
	assert_equal "${lines[1]}" "lines: client 0 client 1 client 2 client 3 late"
	kill -0 "$NP_PID"
	assert_equal "$(np_quiet_err "$BATS_TEST_TMPDIR/listen.err")" \
	    "netpipe: accept (waiting for a free descriptor): Too many open files"
}

# np_signal_midway SIGNAL STATUS: a -lU listener receives 16 MiB from a
# python3 client at about 8 MiB/s; after 1 MiB has arrived it gets
# SIGNAL.  It must exit with STATUS, print nothing, remove its socket
# file, and have written an intact prefix.
np_signal_midway() {
	local sig=$1 want=$2 data sock=$BATS_TEST_TMPDIR/s.sock
	local out=$BATS_TEST_TMPDIR/got
	data=$(np_random_file data 16M)
	NP_OUT=$out NP_DFL_INT=1 np_listen_exec -U "$sock"
	python3 -c "$PY_UNIX_PACED" "$sock" "$data" 3>&- &
	np_track $!
	np_wait_size "$out" $((1024 * 1024))
	kill -"$sig" "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" "$want"
	[ ! -e "$sock" ] || fail "$sock is still there"
	assert_equal "$(np_quiet_err "$BATS_TEST_TMPDIR/listen.err")" ""
	(($(stat -c %s "$out") < 16 * 1024 * 1024)) || fail "not mid-transfer"
	np_assert_prefix "$out" "$data"
}

@test "SIGINT mid-transfer: a -lU listener exits 130, removes its socket, keeps an intact prefix" {
	np_signal_midway INT 130
}

@test "SIGTERM mid-transfer: a -lU listener exits 143, removes its socket, keeps an intact prefix" {
	np_signal_midway TERM 143
}

@test "SIGHUP mid-transfer: a -lU listener exits 129, removes its socket, keeps an intact prefix" {
	np_signal_midway HUP 129
}

@test "SIGTERM mid-transfer: a client sending from a pipe exits 143, the peer got an intact prefix" {
	local in pid n sha
	in=$(np_random_file in 16M)
	np_python_listen STREAM "$PY_COUNT_PROGRESS"
	"${NP[@]}" 127.0.0.1 "$PY_PORT" < <(python3 -c "$PY_PACE" "$in") \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^1MiB$'
	kill -TERM "$pid"
	np_status "$pid"
	assert_equal "$NP_STATUS" 143
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" ""
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9]+ '
	read -r n sha < <(sed -n 2p "$BATS_TEST_TMPDIR/py.out")
	((n >= 1024 * 1024 && n < 16 * 1024 * 1024)) || fail "$n bytes arrived"
	assert_equal "$sha" "$(np_prefix_sha "$in" "$n")"
}

# A userspace netem for kernels without sch_netem: two TUN devices, one
# per namespace (argv[1], argv[2]), joined by this process, which drops
# argv[3] of the packets from the first to the second and delays them by
# argv[4] seconds (as `tc qdisc add dev ... netem loss 5% delay 20ms` on
# the first side would).  Writes "ready" to argv[5] once the link is up,
# and "PACKETS DROPPED" to argv[5].stats as it goes.
PY_TUN_NETEM='
import fcntl, heapq, os, random, select, struct, subprocess, sys, time
nsa, nsb, loss, delay, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    # TUNSETIFF, IFF_TUN | IFF_NO_PI
    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x1001))
    return fd
ends = []
for ns, me, peer in ((nsa, "10.77.0.1", "10.77.0.2"),
        (nsb, "10.77.0.2", "10.77.0.1")):
    dev = "npt%d%s" % (os.getpid(), "ab"[len(ends)])
    ends.append(tun(dev))
    for cmd in (["link", "set", dev, "netns", ns],
            ["-n", ns, "link", "set", dev, "up"],
            ["-n", ns, "addr", "add", me, "peer", peer, "dev", dev]):
        subprocess.run(["ip"] + cmd, check=True)
fa, fb = ends
rng = random.Random(8)
q, seq, packets, dropped = [], 0, 0, 0
def note(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
note(ready, "ready\n")
last = 0
while True:
    now = time.monotonic()
    r, _, _ = select.select([fa, fb], [], [], max(0, q[0][0] - now) if q else 0.2)
    now = time.monotonic()
    for fd in r:
        while True:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            if fd == fb:
                os.write(fa, pkt)
                continue
            packets += 1
            if rng.random() < loss:
                dropped += 1
                continue
            seq += 1
            heapq.heappush(q, (now + delay, seq, pkt))
    while q and q[0][0] <= now:
        try:
            os.write(fb, heapq.heappop(q)[2])
        except OSError:
            pass
    if now - last > 0.1:
        note(ready + ".stats", "%d %d\n" % (packets, dropped))
        last = now
'

@test "8 MiB cross a link with 5% loss and 20 ms delay between two namespaces intact" {
	local a b in out=$BATS_TEST_TMPDIR/got link lpid pid rc=0
	local ready=$BATS_TEST_TMPDIR/link.ready packets dropped
	np_netns
	a=$NS
	np_netns
	b=$NS
	if ip link add npv0 netns "$a" type veth peer name npv1 netns "$b" \
	    2>/dev/null &&
	    tc -n "$a" qdisc add dev npv0 root netem loss 5% delay 20ms \
	    2>/dev/null; then
		link="tc netem on a veth pair"
		ip -n "$a" addr add 10.77.0.1/24 dev npv0
		ip -n "$b" addr add 10.77.0.2/24 dev npv1
		ip -n "$a" link set npv0 up
		ip -n "$b" link set npv1 up
	elif [ -c /dev/net/tun ]; then
		# No sch_netem in this kernel: the same loss and delay in
		# userspace, on a link of two TUN devices.
		link="a userspace netem on a TUN link (no sch_netem here)"
		python3 -c "$PY_TUN_NETEM" "$a" "$b" 0.05 0.02 "$ready" \
		    2>"$BATS_TEST_TMPDIR/link.err" 3>&- &
		lpid=$!
		np_track "$lpid"
		np_wait_for "$ready" '^ready$'
	else
		skip "neither tc netem nor /dev/net/tun is available"
	fi
	in=$(np_random_file in 8M)
	ip netns exec "$b" "${NP[@]}" -v -l 10.77.0.2 0 >"$out" \
	    2>"$BATS_TEST_TMPDIR/listen.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Listening on '
	NP_PORT=$(awk '/^Listening on/ { print $NF; exit }' \
	    "$BATS_TEST_TMPDIR/listen.err")
	timeout 30 ip netns exec "$a" "${NP[@]}" -N 10.77.0.2 "$NP_PORT" \
	    <"$in" >/dev/null 2>"$BATS_TEST_TMPDIR/np.err" || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" ""
	np_status "$pid" 30
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	if [ -n "${lpid:-}" ]; then
		np_wait_for "$ready.stats" '^[0-9]+ [0-9]+$'
		read -r packets dropped <"$ready.stats"
	else
		packets=$(tc -n "$a" -s qdisc show dev npv0 |
		    sed -nE 's/.*Sent [0-9]+ bytes ([0-9]+) pkt.*/\1/p')
		dropped=$(tc -n "$a" -s qdisc show dev npv0 |
		    sed -nE 's/.*\(dropped ([0-9]+),.*/\1/p')
	fi
	echo "# $link: $dropped of $packets packets dropped" >&3
	((dropped > 0)) || fail "the link dropped nothing"
}
