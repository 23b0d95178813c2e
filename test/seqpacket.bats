#!/usr/bin/env bats
# Message boundaries: Unix SOCK_SEQPACKET (--seqpacket) and Unix
# datagram (-uU) sockets carry each input read as one message, and write
# each message received with a write of its own.  The boundaries are
# made visible with packet-mode pipes (pipe2 O_DIRECT), where every
# write is one read at the other end, and with python3 peers that
# recv() one message at a time.

load helpers

# The pump learns that a zero-length read on a SOCK_SEQPACKET socket is
# end of stream (not an empty datagram) through PUMP_SEQPACKET, which
# transfer.c must honour; until it does, the tests that need it skip.
need_seqpacket_pump() {
	grep -q 'PUMP_SEQPACKET' "$BATS_TEST_DIRNAME/../transfer.c" ||
	    skip "transfer.c does not handle PUMP_SEQPACKET yet"
}

# The start of every python3 driver: spawn() starts netpipe so that it
# dies with the driver, whatever ends the driver.
PRELUDE='
import ctypes, os, signal, socket, subprocess, sys
def spawn(cmd, **kw):
    libc = ctypes.CDLL(None)
    return subprocess.Popen(cmd, preexec_fn=lambda: libc.prctl(1,
        signal.SIGKILL), **kw)
'

# driver SCRIPT ARGS...: run PRELUDE and SCRIPT in python3, bounded;
# its output is in $output, its status for the caller to check.
driver() {
	local script=$1
	shift
	run --separate-stderr timeout 20 python3 -c "$PRELUDE$script" "$@"
}

# Listens on argv[1] (SOCK_argv[2]), starts netpipe (argv[3:] plus the
# path) with a packet-mode pipe holding three messages as its stdin, and
# prints each message that arrives, then netpipe's exit status.
SEND_THREE='
path, kind, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
srv = socket.socket(socket.AF_UNIX, getattr(socket, "SOCK_" + kind))
srv.bind(path)
r, w = os.pipe2(os.O_DIRECT)
for m in (b"one", b"two", b"three"):
    os.write(w, m)
os.close(w)
if kind == "SEQPACKET":
    srv.listen(1)
p = spawn(cmd + [path], stdin=r)
os.close(r)
c = srv.accept()[0] if kind == "SEQPACKET" else srv
c.settimeout(10)
for _ in range(3):
    print(c.recv(65536).decode())
c.close()
print("exit", p.wait(timeout=10))
'

@test "--seqpacket: three input reads go out as three messages, and the peer's close ends netpipe" {
	need_seqpacket_pump
	driver "$SEND_THREE" "$BATS_TEST_TMPDIR/s" SEQPACKET "${NP[@]}" \
	    -U --seqpacket
	assert_success
	assert_output "$(printf '%s\n' one two three 'exit 0')"
}

@test "--seqpacket: each message received is written out with a write of its own" {
	need_seqpacket_pump
	driver '
path, cmd = sys.argv[1], sys.argv[2:]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(path)
srv.listen(1)
r, w = os.pipe2(os.O_DIRECT)
p = spawn(cmd + [path], stdin=subprocess.DEVNULL, stdout=w)
os.close(w)
c, _ = srv.accept()
for m in (b"one", b"two", b"three"):
    c.send(m)
c.close()
while True:
    d = os.read(r, 65536)
    if not d:
        break
    print(d.decode())
print("exit", p.wait(timeout=10))
' "$BATS_TEST_TMPDIR/s" "${NP[@]}" -U --seqpacket
	assert_success
	assert_output "$(printf '%s\n' one two three 'exit 0')"
}

@test "--seqpacket -W 2 on a listener takes two of three queued messages, not a run of bytes" {
	need_seqpacket_pump
	np_listen_exec -U --seqpacket -W 2 "$BATS_TEST_TMPDIR/s"
	# The python3 client is not bound to a name, as most are not.
	timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(sys.argv[1])
try:
    for m in (b"one", b"two", b"three"):
        c.send(m)
    c.recv(1)
except (BrokenPipeError, ConnectionResetError):
    pass    # netpipe left, with or without the third message
' "$BATS_TEST_TMPDIR/s"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" onetwo
}

@test "--seqpacket -N shuts down the sending side; the peer's reply still arrives" {
	need_seqpacket_pump
	driver '
path, cmd = sys.argv[1], sys.argv[2:]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(path)
srv.listen(1)
p = spawn(cmd + [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
p.stdin.write(b"hello\n")
p.stdin.close()
c, _ = srv.accept()
c.settimeout(10)
n = 0
while c.recv(65536):
    n += 1
c.send(b"got %d message, then end of stream\n" % n)
c.close()
print(p.stdout.read().decode(), end="")
print("exit", p.wait(timeout=10))
' "$BATS_TEST_TMPDIR/s" "${NP[@]}" -U --seqpacket -N
	assert_success
	assert_output "$(printf '%s\n' 'got 1 message, then end of stream' \
	    'exit 0')"
}

@test "netpipe to netpipe over an abstract @name --seqpacket socket: 4 MiB arrive intact" {
	need_seqpacket_pump
	in=$(np_random_file in 4194304)
	name="@netpipe-seq-$$-$BATS_TEST_NUMBER"
	np_listen_exec -U --seqpacket "$name"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on $name"
	# Through a pipe each read, so each message, is at most 64 KiB.
	cat "$in" | timeout 10 "${NP[@]}" -N -U --seqpacket "$name"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

@test "a --seqpacket listener keeps off a path where another one is live" {
	np_listen_exec -U --seqpacket "$BATS_TEST_TMPDIR/s"
	np_fails 1 "netpipe: $BATS_TEST_TMPDIR/s: Address already in use" \
	    -l -U --seqpacket "$BATS_TEST_TMPDIR/s"
}

@test "--seqpacket is refused without -U and together with -u" {
	np_fails 2 'netpipe: --seqpacket requires -U' --seqpacket 127.0.0.1 1
	np_fails 2 'netpipe: --seqpacket and -u cannot be used together' \
	    -uU --seqpacket "$BATS_TEST_TMPDIR/s"
}

@test "-uU: three input reads go out as three datagrams" {
	driver "$SEND_THREE" "$BATS_TEST_TMPDIR/s" DGRAM "${NP[@]}" \
	    -uU -q 0
	assert_success
	assert_output "$(printf '%s\n' one two three 'exit 0')"
}

@test "-luU: three datagrams are written out with three writes" {
	driver '
path, cmd = sys.argv[1], sys.argv[2:]
r, w = os.pipe2(os.O_DIRECT)
p = spawn(cmd + [path], stdin=subprocess.DEVNULL, stdout=w,
    stderr=subprocess.PIPE)
os.close(w)
# Wait (bounded) for the listener to say it is bound.
p.stderr.readline()
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for m in (b"one", b"two", b"three"):
    c.sendto(m, path)
while True:
    d = os.read(r, 65536)
    if not d:
        break
    print(d.decode())
print("exit", p.wait(timeout=10))
' "$BATS_TEST_TMPDIR/s" "${NP[@]}" -v -luU -W 3
	assert_success
	assert_output "$(printf '%s\n' one two three 'exit 0')"
}
