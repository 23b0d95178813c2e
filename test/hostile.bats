#!/usr/bin/env bats
# Hostile peers and hostile surroundings (issue 19): a chat peer that
# floods and never reads, peers that never read in every many-peer mode,
# connect-and-reset bursts against every kind of listener, proxies that
# flood or lie, a -lU socket file swapped under the listener, side files
# that cannot be written, and chat text that tries to rewrite a terminal.
# Each attack either broke a promise once or is one that held; both stay
# here so that they keep holding.

load helpers

setup_file() {
	tls_pki
}

# Whether RSS can be measured: not under ASan or valgrind, whose own
# memory grows by design (as np_rss_within says).
rss_measured() {
	[[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]
}

# Python prelude: argv[1] the port, argv[2] the listener's PID, argv[3]
# the most its RSS may grow (KiB; 0: not measured).
PY_HOSTILE='
import os, re, select, socket, sys, time
port, pid, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

rss0 = rss()

def rss_ok():
    grown = rss() - rss0
    if limit and grown > limit:
        sys.exit("RSS grew by %d KiB (limit %d)" % (grown, limit))
    return grown

def conn(rcvbuf=0):
    c = socket.socket()
    if rcvbuf:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.connect(("127.0.0.1", port))
    c.settimeout(10)
    return c

def until(c, text):
    """Read c until text has arrived; what came, or exit."""
    got, end = b"", time.time() + 10
    while text not in got and time.time() < end:
        d = c.recv(65536)
        if not d:
            break
        got += d
    if text not in got:
        sys.exit("never got %r, only %r" % (text, got[-200:]))
    return got
'

# The issue's attack: a chat peer floods "/nick" lines, each answered to
# itself, and never reads.  While two others chat for 10 s the listener
# stays within a few MiB; once the flooder leaves, they chat again.
PY_NICK_FLOOD=$PY_HOSTILE'
flood = conn(4096)
flood.setblocking(False)
b, c = conn(), conn()
until(b, b"<user3> has joined")
burst = b"/nick\n" * 4096
sent = peak = 0
end = time.time() + 10
i = 0
while time.time() < end:
    try:
        if flood is None:
            time.sleep(0.05)
        else:
            sent += flood.send(burst)
    except BlockingIOError:
        select.select([], [flood], [], 0.05)
    except (BrokenPipeError, ConnectionResetError):
        flood = None
    i += 1
    if i % 20 == 0:
        for s, who in ((b, b"b"), (c, b"c")):
            try:
                s.send(b"%s says %d\n" % (who, i))
            except BlockingIOError:
                pass
        b.setblocking(False); c.setblocking(False)
        for s in (b, c):
            try:
                s.recv(1 << 20)
            except BlockingIOError:
                pass
        peak = max(peak, rss_ok())
print("flooded %s" % ("yes" if sent > 1 << 18 else "no: %d" % sent))
if flood is not None:
    flood.close()
b.setblocking(True); c.setblocking(True)
b.sendall(b"still here\n")
until(c, b"<user2> still here\n")
print("chat goes on")
print("peak %d KiB" % peak, file=sys.stderr)
'

@test "a /nick flood from a chat peer that never reads keeps --broker-block within its bound, and the chat goes on" {
	local limit=0
	rss_measured && limit=$((64 + 4096))
	np_listen_exec --chat --broker-block --queue-size 64K 127.0.0.1 0
	run -0 --separate-stderr timeout 40 python3 -c "$PY_NICK_FLOOD" \
	    "$NP_PORT" "$NP_PID" "$limit"
	assert_line -n 0 "flooded yes"
	assert_line -n 1 "chat goes on"
	echo "# $stderr" >&3
}

@test "a /nick flood from a chat peer that never reads gets it dropped, and the chat goes on" {
	local limit=0
	rss_measured && limit=$((64 + 4096))
	np_listen_exec --chat --queue-size 64K 127.0.0.1 0
	run -0 --separate-stderr timeout 40 python3 -c "$PY_NICK_FLOOD" \
	    "$NP_PORT" "$NP_PID" "$limit"
	assert_line -n 1 "chat goes on"
	run grep -Ec '^netpipe: 127\.0\.0\.1 [0-9]+: output queue full \(65536 bytes\), peer dropped$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

# A peer that never reads while another sends 32 MiB at it, and the
# listener's RSS is checked all along.  Prints whether the sender got all
# of it out (the silent peer was dropped, or is not sent to) or was held
# back (no progress for 2 s).
PY_SILENT=$PY_HOSTILE'
silent = conn(4096)
sender = conn()
sender.setblocking(False)
chunk = (b"x" * 99 + b"\n") * 655
total, last = 0, time.time()
while total < 32 << 20 and time.time() - last < 2:
    try:
        n = sender.send(chunk)
        total += n
        last = time.time()
    except BlockingIOError:
        select.select([sender], [sender], [], 0.05)
    except (BrokenPipeError, ConnectionResetError):
        sys.exit("the sender lost its connection")
    rss_ok()
    try:
        sender.recv(1 << 20)
    except BlockingIOError:
        pass
print("sent all" if total >= 32 << 20 else "held back")
'

# silent_peer WANT ARGS...: a listener with ARGS (-O 4096: a small socket
# buffer, so that the queue is what fills), a silent peer and a sender;
# the sender's verdict must be WANT, RSS must stay within the default
# 1 MiB queue and a few MiB, and the listener must end by SIGTERM.
silent_peer() {
	local want=$1 limit=0
	shift
	rss_measured && limit=$((1024 + 4096))
	NP_OUT=/dev/null np_listen_exec "$@" -O 4096 127.0.0.1 0
	run -0 timeout 40 python3 -c "$PY_SILENT" "$NP_PORT" "$NP_PID" "$limit"
	assert_output "$want"
	kill "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
}

@test "--broker: a peer that never reads is dropped at its queue bound" {
	silent_peer "sent all" --broker
	run -0 grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
}

@test "--broker --broker-block: a peer that never reads holds the sender back within the bound" {
	silent_peer "held back" --broker --broker-block
}

@test "--chat: a peer that never reads is dropped at its queue bound" {
	silent_peer "sent all" --chat
	run -0 grep -c 'peer dropped' "$BATS_TEST_TMPDIR/listen.err"
}

@test "--chat --broker-block: a peer that never reads holds the sender back within the bound" {
	silent_peer "held back" --chat --broker-block
}

@test "-k --max-conns: a peer that never reads holds endless stdin back within the bound" {
	NP_IN=/dev/zero silent_peer "sent all" -k --max-conns 4
}

# A fake proxy (env HP_MODE: http, socks4 or socks5) that reads the
# client's request and answers with HP_REPLY (a Python bytes literal)
# followed, when HP_FLOOD is set, by CRs without end.  With HP_PIDFILE it
# stops the client (SIGSTOP) once the request is in, fills the socket
# with the flood, sends SIGTERM and lets it go on (SIGCONT): the client
# wakes to a signal with the flood already waiting to be read.
PY_PROXY='
import os, signal, time
c, _ = s.accept()
c.settimeout(10)
mode = os.environ["HP_MODE"]
if mode == "http":
    b = b""
    while b"\r\n\r\n" not in b:
        b += c.recv(4096)
elif mode == "socks5":
    c.recv(3)
else:
    c.recv(9)
reply = eval("b\"" + os.environ.get("HP_REPLY", "") + "\"")
pid = None
if os.environ.get("HP_PIDFILE"):
    end = time.time() + 10
    while not os.path.exists(os.environ["HP_PIDFILE"]) and time.time() < end:
        time.sleep(0.01)
    pid = int(open(os.environ["HP_PIDFILE"]).read())
    os.kill(pid, signal.SIGSTOP)
c.sendall(reply)
if os.environ.get("HP_FLOOD"):
    c.setblocking(False)
    try:
        while True:
            c.send(b"\r" * 65536)
    except BlockingIOError:
        pass
    if pid:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
    c.setblocking(True)
    c.settimeout(20)
    try:
        while True:
            c.sendall(b"\r" * 65536)
    except OSError:
        pass
else:
    if pid:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
    c.recv(1)
'

# proxy_client TYPE ARGS...: netpipe -X TYPE through the fake proxy to
# 127.0.0.1 port 80, in the background; sets CLIENT_PID and writes it
# to HP_PIDFILE for the proxy.
proxy_client() {
	local type=$1
	shift
	"${NP[@]}" -X "$type" -x "127.0.0.1:$PY_PORT" "$@" 127.0.0.1 80 \
	    </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/client.err" 3>&- &
	CLIENT_PID=$!
	np_track "$CLIENT_PID"
	echo "$CLIENT_PID" >"$BATS_TEST_TMPDIR/pid.tmp"
	mv "$BATS_TEST_TMPDIR/pid.tmp" "$BATS_TEST_TMPDIR/client.pid"
}

@test "an HTTP proxy that floods CRs is cut off at the line bound, exit 1 with a message" {
	HP_MODE=http HP_REPLY='HTTP/1.1 200 OK\r\n' HP_FLOOD=1 \
	    np_python_listen STREAM "$PY_PROXY"
	np_io /dev/null /dev/null -X connect -x "127.0.0.1:$PY_PORT" -w 2 \
	    127.0.0.1 80
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: proxy 127.0.0.1 port $PY_PORT: HTTP reply line longer than 1023 bytes"
}

@test "an HTTP proxy that floods CRs from its first byte is cut off too" {
	HP_MODE=http HP_FLOOD=1 np_python_listen STREAM "$PY_PROXY"
	np_io /dev/null /dev/null -X connect -x "127.0.0.1:$PY_PORT" \
	    127.0.0.1 80
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: proxy 127.0.0.1 port $PY_PORT: HTTP reply line longer than 1023 bytes"
}

# flood_sigterm MODE TYPE [REPLY]: SIGTERM arrives while a flood from the
# proxy waits to be read; the client exits 143 at once, with no message.
flood_sigterm() {
	HP_MODE=$1 HP_REPLY=${3:-} HP_FLOOD=1 \
	    HP_PIDFILE=$BATS_TEST_TMPDIR/client.pid \
	    np_python_listen STREAM "$PY_PROXY"
	proxy_client "$2"
	np_status "$CLIENT_PID"
	assert_equal "$NP_STATUS" 143
	# valgrind runs a signal handler when it gets round to it, so the
	# read of the flood may come first there.
	[ -n "${NETPIPE_WRAP:-}" ] ||
	    assert_equal "$(cat "$BATS_TEST_TMPDIR/client.err")" ""
}

@test "SIGTERM during an HTTP proxy's flood: exit 143 at once" {
	flood_sigterm http connect 'HTTP/1.1 200 OK\r\n'
}

@test "SIGTERM during a SOCKS5 proxy's flood: exit 143 at once" {
	flood_sigterm socks5 5
}

@test "SIGTERM during a SOCKS4 proxy's flood: exit 143 at once" {
	flood_sigterm socks4 4
}

@test "SIGTERM while a proxy says nothing: exit 143 at once" {
	HP_MODE=socks5 HP_PIDFILE=$BATS_TEST_TMPDIR/client.pid \
	    np_python_listen STREAM "$PY_PROXY"
	proxy_client 5
	np_status "$CLIENT_PID"
	assert_equal "$NP_STATUS" 143
}

# bad_reply MODE TYPE REPLY MESSAGE: the proxy's reply is refused with
# exit 1 and MESSAGE (after "netpipe: proxy ADDR PORT: ").
bad_reply() {
	HP_MODE=$1 HP_REPLY=$3 np_python_listen STREAM "$PY_PROXY"
	np_io /dev/null /dev/null -X "$2" -x "127.0.0.1:$PY_PORT" -w 5 \
	    127.0.0.1 80
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: proxy 127.0.0.1 port $PY_PORT: $4"
}

@test "a SOCKS4 reply whose version byte is not 0 is refused" {
	bad_reply socks4 4 '\x09\x5a\0\0\0\0\0\0' \
	    "SOCKS4: not a SOCKS4 reply (version 9)"
}

@test "malformed SOCKS and HTTP replies are refused, exit 1 with a message" {
	bad_reply socks4 4 '\0\x5b\0\0\0\0\0\0' \
	    "SOCKS4 connect to 127.0.0.1 port 80 failed: Request rejected or failed"
	np_cleanup
	bad_reply socks5 5 '\x04\0' "not a SOCKS5 proxy (version 4 in its reply)"
	np_cleanup
	bad_reply http connect 'SSH-2.0-x\r\n\r\n' \
	    'not an HTTP proxy: it answered "SSH-2.0-x"'
	np_cleanup
	bad_reply http connect 'HTTP/1.1 2000 OK\r\n\r\n' \
	    'not an HTTP proxy: it answered "HTTP/1.1 2000 OK"'
}

@test "a proxy that sends endless header lines is cut off at 64 of them" {
	local i hdrs=
	for ((i = 0; i < 100; i++)); do
		hdrs+='X-Pad: y\r\n'
	done
	bad_reply http connect "HTTP/1.1 200 OK\\r\\n$hdrs" \
	    "more than 64 header lines in the reply"
}

@test "-X given twice takes the last, as nc.openbsd and getopt tools do" {
	HP_MODE=http HP_REPLY='HTTP/1.1 407 Auth\r\n\r\n' \
	    np_python_listen STREAM "$PY_PROXY"
	np_io /dev/null /dev/null -X 5 -X connect \
	    -x "127.0.0.1:$PY_PORT" -w 5 127.0.0.1 80
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR == *"CONNECT to 127.0.0.1 port 80 failed"* ]] ||
	    fail "stderr: $NP_STDERR"
	np_cleanup
	HP_MODE=socks5 HP_REPLY='\x05\xff' np_python_listen STREAM "$PY_PROXY"
	np_io /dev/null /dev/null -X connect -X 5 \
	    -x "127.0.0.1:$PY_PORT" -w 5 127.0.0.1 80
	assert_equal "$NP_RC" 1
	[[ $NP_STDERR == *SOCKS5* ]] || fail "stderr: $NP_STDERR"
}

@test "-lU: a regular file put in place of the socket is not removed at exit" {
	local path=$BATS_TEST_TMPDIR/s
	np_listen_exec -U "$path"
	np_wait_socket "$path"
	rm "$path"
	echo precious >"$path"
	kill "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	assert_equal "$(cat "$path")" precious
}

@test "-lU: a swapped symbolic link of the parent does not send the unlink to the other directory" {
	local d=$BATS_TEST_TMPDIR
	mkdir "$d/a" "$d/b"
	ln -s a "$d/link"
	np_listen_exec -U "$d/link/s"
	np_wait_socket "$d/a/s"
	echo precious >"$d/b/s"
	ln -sfn b "$d/link"
	kill "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	assert_equal "$(cat "$d/b/s")" precious
	# Its own socket file, in the directory it bound in, is gone.
	[ ! -e "$d/a/s" ]
}

@test "-lU: a socket file of another listener put in its place is not removed" {
	local path=$BATS_TEST_TMPDIR/s
	np_listen_exec -U "$path"
	np_wait_socket "$path"
	rm "$path"
	np_python_unix STREAM "$path" 'c, _ = s.accept()'
	kill "$NP_PID"
	np_status "$NP_PID"
	[ -S "$path" ]
}

@test "-lU: its own socket file is removed on SIGTERM and on a normal end" {
	local path=$BATS_TEST_TMPDIR/s
	np_listen_exec -U "$path"
	np_wait_socket "$path"
	kill "$NP_PID"
	np_status "$NP_PID"
	[ ! -e "$path" ]
	np_listen_exec -U "$path"
	np_wait_socket "$path"
	run -0 timeout 10 "${NP[@]}" -N -U "$path" </dev/null
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	[ ! -e "$path" ]
}

@test "-lU @ reports the abstract name the kernel chose, and a client reaches it" {
	local name
	np_listen_exec -U @
	name=$(sed -n 's/^Listening on //p' "$BATS_TEST_TMPDIR/listen.err")
	[[ $name =~ ^@[0-9a-f]{5}$ ]] || fail "reported: $name"
	echo hello | timeout 10 "${NP[@]}" -N -U "$name"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" hello
}

@test "--hex-dump /dev/full: one message, the transfer goes on, exit 1" {
	local data
	data=$(np_random_file data 256K)
	NP_OUT=$BATS_TEST_TMPDIR/got np_listen_exec 127.0.0.1 0
	np_io "$data" /dev/null --hex-dump /dev/full -N 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: hex dump /dev/full: No space left on device"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$data")"
}

# A tmpfs of 64 KiB in a mount namespace of its own (unshare -m), so that
# nothing is left mounted whatever happens; ARGS run there, in $mnt.
in_small_fs() {
	unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs "$1" && shift &&
	    exec "$@"' sh "$@"
}

@test "--hex-dump onto a full file system: one message naming the file, the data all there, exit 1" {
	local data mnt=$BATS_TEST_TMPDIR/small
	mkdir "$mnt"
	unshare -m true 2>/dev/null || skip "no mount namespaces here"
	in_small_fs "$mnt" true 2>/dev/null || skip "cannot mount a tmpfs here"
	data=$(np_random_file data 256K)
	NP_OUT=$BATS_TEST_TMPDIR/got np_listen_exec 127.0.0.1 0
	run -1 --separate-stderr in_small_fs "$mnt" timeout 10 \
	    "${NP[@]}" --hex-dump "$mnt/dump" -N 127.0.0.1 "$NP_PORT" <"$data"
	assert_equal "$stderr" "netpipe: hex dump $mnt/dump: No space left on device"
	np_status "$NP_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$data")"
}

@test "--output onto a full file system names the file in its message" {
	local mnt=$BATS_TEST_TMPDIR/small
	mkdir "$mnt"
	unshare -m true 2>/dev/null || skip "no mount namespaces here"
	in_small_fs "$mnt" true 2>/dev/null || skip "cannot mount a tmpfs here"
	NP_IN=$(np_random_file data 1M) np_listen_exec -N 127.0.0.1 0
	run -1 --separate-stderr in_small_fs "$mnt" timeout 10 \
	    "${NP[@]}" --output "$mnt/got" 127.0.0.1 "$NP_PORT" </dev/null
	assert_equal "$stderr" "netpipe: $mnt/got: No space left on device"
}

@test "--output /dev/full names /dev/full in its message, not stdout" {
	NP_IN=$(np_random_file data 1M) np_listen_exec -N 127.0.0.1 0
	np_io /dev/null /dev/null --output /dev/full 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$NP_STDERR" "netpipe: /dev/full: No space left on device"
}

@test "chat text shows control bytes as ^M, ^[ and ^?, keeps TAB, and a CR LF end is a line end" {
	np_listen_exec --chat 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_HOSTILE"'
a = conn(); until(a, b"you are")
b = conn(); until(a, b"has joined"); until(b, b"you are")
a.sendall(b"\r<announce> <user2> has left.\x1b[2K\tx\x7f\x00\r\n")
print(until(b, b"\n"))
' "$NP_PORT" "$NP_PID" 0
	assert_output "b'<user1> ^M<announce> <user2> has left.^[[2K\\tx^?^@\\n'"
}

@test "a chat line of exactly 1024 bytes and its LF make one line, not one and an empty one" {
	np_listen_exec --chat 127.0.0.1 0
	run -0 timeout 10 python3 -c "$PY_HOSTILE"'
a = conn(); until(a, b"you are")
b = conn(); until(a, b"has joined"); until(b, b"you are")
a.sendall(b"x" * 1024 + b"\n" + b"y" * 1024 + b"\r\n" + b"z" * 1025 + b"\n")
a.sendall(b"end\n")
for l in until(b, b"> end\n").split(b"\n")[:-1]:
    print(l[:10].decode(), len(l))
' "$NP_PORT" "$NP_PID" 0
	assert_output "<user1> xx 1032
<user1> yy 1032
<user1> zz 1032
<user1> z 9
<user1> en 11"
}

@test "-k --tls without -w gives up a client that says nothing after 10 s, and serves the next" {
	NP_OUT=$BATS_TEST_TMPDIR/got tls_listen -k 127.0.0.1 0
	python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(60)' "$NP_PORT" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	echo hello | timeout 40 "${NP[@]}" --tls --tls-ca "$TLS_DIR/ca.pem" \
	    --tls-name localhost -w 30 -N 127.0.0.1 "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/got" '^hello$'
	run -0 grep -c '^netpipe: tls: handshake: Connection timed out$' \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "SIGTERM while a -k --tls listener waits on a silent client's handshake: exit 143" {
	tls_listen -k 127.0.0.1 0
	python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(60)' "$NP_PORT" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	kill "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
}

# Connections that are reset as soon as they are made (SO_LINGER 0), N
# of them to argv[1] (a port, or a Unix path).
PY_RESETS='
import socket, struct, sys
where, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    if where.isdigit():
        s = socket.socket()
        addr = ("127.0.0.1", int(where))
    else:
        s = socket.socket(socket.AF_UNIX)
        addr = where
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(addr)
    s.close()
'

# resets_then_ping ARGS...: a listener with ARGS takes 200 connections
# that reset at once, then a client whose line arrives on its stdout.
resets_then_ping() {
	NP_OUT=$BATS_TEST_TMPDIR/got np_listen_exec -k "$@" 127.0.0.1 0
	run -0 timeout 30 python3 -c "$PY_RESETS" "$NP_PORT" 200
	kill -0 "$NP_PID"
	echo ping | timeout 10 "${NP[@]}" -N 127.0.0.1 "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/got" '^ping$'
}

@test "connect-and-reset bursts: -k serves the next client" {
	resets_then_ping
}

@test "connect-and-reset bursts: -k --max-conns serves the next client" {
	resets_then_ping --max-conns 8
}

@test "connect-and-reset bursts: -k -e serves the next client" {
	np_listen_exec -k -e /bin/cat 127.0.0.1 0
	run -0 timeout 30 python3 -c "$PY_RESETS" "$NP_PORT" 200
	run -0 timeout 10 "${NP[@]}" -N 127.0.0.1 "$NP_PORT" <<<ping
	assert_output ping
}

@test "connect-and-reset bursts: --broker and --chat relay for the next peers" {
	local mode
	for mode in --broker --chat; do
		np_listen_exec "$mode" 127.0.0.1 0
		run -0 timeout 30 python3 -c "$PY_RESETS" "$NP_PORT" 200
		run -0 timeout 10 python3 -c "$PY_HOSTILE"'
a = conn(); b = conn()
b.settimeout(0.05)
got, end = b"", time.time() + 10
# b is relayed to once it has joined: say it until it is heard.
while b"ping\n" not in got and time.time() < end:
    a.sendall(b"ping\n")
    try:
        got += b.recv(65536)
    except socket.timeout:
        pass
print("relayed" if b"ping\n" in got else "lost")
' "$NP_PORT" "$NP_PID" 0
		assert_output relayed
		np_cleanup
	done
}

@test "connect-and-reset bursts: -k --tls serves the next client" {
	NP_OUT=$BATS_TEST_TMPDIR/got tls_listen -k 127.0.0.1 0
	run -0 timeout 30 python3 -c "$PY_RESETS" "$NP_PORT" 200
	echo ping | timeout 10 "${NP[@]}" --tls --tls-ca "$TLS_DIR/ca.pem" \
	    --tls-name localhost -N 127.0.0.1 "$NP_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/got" '^ping$'
}

@test "connect-and-reset bursts: -lU -k serves the next client" {
	local path=$BATS_TEST_TMPDIR/s
	NP_OUT=$BATS_TEST_TMPDIR/got np_listen_exec -k -U "$path"
	run -0 timeout 30 python3 -c "$PY_RESETS" "$path" 200
	echo ping | timeout 10 "${NP[@]}" -N -U "$path"
	np_wait_for "$BATS_TEST_TMPDIR/got" '^ping$'
}

# argv[4] peers send as fast as they are taken until all are held back;
# then 256 KiB are read from the listener's stdout, the FIFO argv[5], so
# that every peer is readable at once while its stdout queue has a
# little room.  RSS is checked all along.
PY_MANY_SENDERS=$PY_HOSTILE'
n, fifo = int(sys.argv[4]), sys.argv[5]
peers = [conn() for i in range(n)]
for s in peers:
    s.setblocking(False)
chunk = b"x" * 65536
peak = 0

def flood(quiet):
    global peak
    last = time.time()
    while time.time() - last < quiet:
        for s in peers:
            try:
                s.send(chunk)
                last = time.time()
            except BlockingIOError:
                pass
        peak = max(peak, rss_ok())
        select.select([], peers, [], 0.05)

flood(1)
out = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
got, end = 0, time.time() + 10
while got < 256 << 10 and time.time() < end:
    try:
        got += len(os.read(out, 65536))
    except BlockingIOError:
        select.select([out], [], [], 0.05)
flood(1)
print("read %d KiB of stdout" % (got >> 10))
print("peak %d KiB" % peak, file=sys.stderr)
'

@test "-k --max-conns: 200 peers sending at once to a slow stdout stay within the stdout queue's bound" {
	local fifo=$BATS_TEST_TMPDIR/out.fifo limit=0
	rss_measured && limit=$((1024 + 4096))
	mkfifo "$fifo"
	# Opens the FIFO for reading and never reads it.
	"${NP_HOLD[@]}" <"$fifo" 3>&- &
	np_track $!
	NP_OUT=$fifo np_listen_exec -k --max-conns 200 127.0.0.1 0
	run -0 --separate-stderr timeout 40 python3 -c "$PY_MANY_SENDERS" \
	    "$NP_PORT" "$NP_PID" "$limit" 200 "$fifo"
	assert_output "read 256 KiB of stdout"
	echo "# $stderr" >&3
}
