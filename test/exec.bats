#!/usr/bin/env bats
# -e CMD and --sh-exec CMD: a child process on the connected socket, for
# the client and for each peer of a listener; exit statuses, reaping,
# concurrency with --max-conns, and commands that fail.

load helpers

# Connect COUNT times to 127.0.0.1 PORT one after another, send "N\n" and
# expect the reply "got N\n" each time; print how many were right.
PY_SEQ='
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
ok = 0
for i in range(count):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"%d\n" % i)
    data = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        data += d
    c.close()
    ok += data == b"got %d\n" % i
print(ok)
'

# The state letters of PID's children (Z for a zombie), one per line.
np_child_states() {
	ps --ppid "$1" -o stat= 2>/dev/null || true
}

np_no_zombie() {
	[[ $(np_child_states "$1") != *Z* ]]
}

@test "--sh-exec with -k answers 100 sequential python3 clients and leaves no zombie" {
	np_listen_exec -k 127.0.0.1 0 --sh-exec 'read x; echo got $x'
	run -0 timeout 20 python3 -c "$PY_SEQ" "$NP_PORT" 100
	assert_output 100
	# A child's exit is reported just after its peer saw EOF.
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" \
	    '^Child [0-9]+ exited with status 0$' 10 100
	run -0 grep -c '^Child [0-9]* exited with status 0$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 100
	run -0 grep -c '^Connection received on 127\.0\.0\.1 ' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 100
	kill -0 "$NP_PID"
	# The last child may still be on its way out: bounded wait, then
	# the assertion.
	np_until 2 np_no_zombie "$NP_PID" || true
	run np_child_states "$NP_PID"
	refute_output --partial Z
}

@test "-e splits its argument into argv with no shell: \$HOME reaches nc.openbsd unexpanded" {
	np_listen_exec 127.0.0.1 0 -e 'echo one  $HOME	two'
	run -0 --separate-stderr timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	assert_output 'one $HOME two'
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	run -0 grep -E '^Child [0-9]+ exited with status 0$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "a child that exits early closes the connection cleanly and -k serves the next peer" {
	np_listen_exec -k 127.0.0.1 0 --sh-exec 'echo bye'
	for i in 1 2; do
		run -0 --separate-stderr timeout 10 nc.openbsd -d 127.0.0.1 \
		    "$NP_PORT"
		assert_output bye
		assert_equal "$stderr" ""
	done
	kill -0 "$NP_PID"
	# A child's exit is reported just after its peer saw EOF.
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" \
	    '^Child [0-9]+ exited with status 0$' 10 2
	run -0 grep -c '^Child [0-9]* exited with status 0$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 2
}

@test "a listener without -k exits 1 when its child fails, and -v reports the status" {
	np_listen_exec 127.0.0.1 0 --sh-exec 'echo partial; exit 3'
	run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	assert_output partial
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run -0 grep -E '^Child [0-9]+ exited with status 3$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "-v reports a child killed by a signal" {
	np_listen_exec 127.0.0.1 0 --sh-exec 'kill -USR1 $$'
	run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run -0 grep -E '^Child [0-9]+ killed by signal 10$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "client -e cat echoes what a python3 server sends and exits with the child's 0" {
	np_python_listen STREAM '
c, _ = s.accept()
c.sendall(b"ping\x00pong\n")
c.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
print(data.hex(), flush=True)
'
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -e cat 127.0.0.1 \
	    "$PY_PORT" </dev/null
	assert_output ""
	[[ $stderr == *"Child "*" exited with status 0"* ]]
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" \
	    "$(np_hex 'ping\0pong\n')"
}

@test "client --sh-exec runs through /bin/sh and its exit status decides netpipe's" {
	np_python_listen STREAM '
c, _ = s.accept()
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
print(data.decode(), end="", flush=True)
'
	run -1 --separate-stderr timeout 10 "${NP[@]}" \
	    --sh-exec 'echo $((6 * 7)); exit 5' 127.0.0.1 "$PY_PORT" </dev/null
	assert_equal "$stderr" ""
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" 42
}

@test "a command that does not exist: the client exits 1 with a message" {
	np_python_listen STREAM '
c, _ = s.accept()
print(c.recv(10) == b"", flush=True)
'
	run -1 --separate-stderr timeout 10 "${NP[@]}" -e no-such-cmd-np 127.0.0.1 \
	    "$PY_PORT" </dev/null
	# Under valgrind posix_spawn cannot report a failed exec: the child
	# exits 127 instead, which is still exit 1.
	[ -n "${NETPIPE_WRAP:-}" ] ||
	    assert_equal "$stderr" \
	    "netpipe: exec no-such-cmd-np: No such file or directory"
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" True
}

@test "a -k listener whose command does not exist closes each peer and stays up" {
	np_listen_exec -k 127.0.0.1 0 -e no-such-cmd-np
	for i in 1 2; do
		run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
		assert_output ""
	done
	kill -0 "$NP_PID"
	[ -n "${NETPIPE_WRAP:-}" ] && return 0	# see the test above
	run -0 grep -c '^netpipe: exec no-such-cmd-np: No such file or directory$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 2
}

@test "an empty command is a usage error" {
	np_fails 2 'netpipe: -e: the command is empty' -e ' ' 127.0.0.1 1
	np_fails 2 'netpipe: --sh-exec: the command is empty' -l --sh-exec '' 0
}

@test "-e with --sh-exec, --broker or -z is a usage error" {
	np_fails 2 'netpipe: -e and --sh-exec cannot be used together' \
	    -e cat --sh-exec cat 127.0.0.1 1
	np_fails 2 'netpipe: --broker and -e cannot be used together' \
	    -l --broker -e cat 0
	np_fails 2 'netpipe: -e and -u -k cannot be used together' \
	    -u -l -k -e cat 0
}

@test "--max-conns 3 with -k gives three python3 peers a child each at the same time" {
	np_listen_exec -k --max-conns 3 127.0.0.1 0 \
	    --sh-exec 'read x; echo got $x'
	run -0 timeout 10 python3 -c '
import socket, sys
port = int(sys.argv[1])
cs = [socket.create_connection(("127.0.0.1", port), timeout=5)
      for i in range(3)]
# Last connected first: one child at a time would never answer it.
for i in (2, 1, 0):
    cs[i].sendall(b"%d\n" % i)
    print(cs[i].makefile("rb").readline().decode(), end="")
' "$NP_PORT"
	assert_output "$(printf 'got %s\n' 2 1 0)"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Peers connected: 0$'
	run -0 grep -c '^Peers connected: 3$' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "SIGTERM stops the listener with 143 and its children with it" {
	local child
	np_listen_exec -vv -k 127.0.0.1 0 -e 'sleep 30'
	exec 4< <(timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT")
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Child [0-9]+ started$'
	child=$(sed -nE 's/^Child ([0-9]+) started$/\1/p' \
	    "$BATS_TEST_TMPDIR/listen.err")
	kill -0 "$child"
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	np_wait_exit "$child"
	exec 4<&-
}

@test "the child gets SIGPIPE and SIGXFSZ back at their defaults (netpipe ignores them)" {
	np_listen_exec 127.0.0.1 0 -e 'grep ^SigIgn: /proc/self/status'
	run -0 timeout 10 nc.openbsd -d 127.0.0.1 "$NP_PORT"
	[[ $output == SigIgn:* ]]
	# SIGPIPE is signal 13 (bit 12 of the mask), SIGXFSZ 25 (bit 24).
	(( (0x${output##*[[:space:]]} & 0x1000) == 0 ))
	(( (0x${output##*[[:space:]]} & 0x1000000) == 0 ))
}

@test "-u -l -e cat echoes a python3 client's datagrams" {
	np_listen_exec -u 127.0.0.1 0 -e cat
	run -0 timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
for m in (b"one", b"two\x00"):
    c.sendto(m, ("127.0.0.1", int(sys.argv[1])))
    print(c.recv(100).hex())
' "$NP_PORT"
	assert_output "$(np_hex 'one')
$(np_hex 'two\0')"
}
