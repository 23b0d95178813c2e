#!/usr/bin/env bats
# Unix-domain sockets: -U stream client and listener against socat,
# python3 and nc.openbsd, -uU datagrams, abstract @names, and what a
# listener does with the file system path (SPEC section 2a).

load helpers

# python3 servers (run by np_python_unix with `s` bound, and listening
# when it is a stream socket).

# Read connections to EOF one after another and print what each one
# sent (a connection that sends nothing, such as a probe, prints nothing).
PY_PRINT_EACH='
while True:
    c, a = s.accept()
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    print(buf.decode(), end="", flush=True)
    c.close()
'

# Datagram server: print the length of each of three datagrams and the
# sender's address, then answer the sender with three datagrams.
PY_DGRAM_THREE='
peer = None
for i in range(3):
    d, peer = s.recvfrom(65536)
    print(len(d), peer, flush=True)
for r in (b"r1", b"r22", b"r333"):
    s.sendto(r, peer)
'

# Datagram server: print the sender's address and answer "bye".
PY_DGRAM_BYE='
d, peer = s.recvfrom(65536)
print(peer, flush=True)
s.sendto(b"bye\n", peer)
'

# Datagram client bound to its own path: send three datagrams to
# NP_PY_DEST, then print the length of each of three answers.
PY_DGRAM_CLIENT='
dest = os.environ["NP_PY_DEST"]
for d in (b"a" * 7, b"b" * 3000, b"c"):
    s.sendto(d, dest)
print("sent", flush=True)
for i in range(3):
    d = s.recv(65536)
    print(len(d), flush=True)
'

@test "-U client sends 4 MiB to a socat UNIX-LISTEN peer" {
	local in sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/got pid
	in=$(np_random_file in 4M)
	socat -u "UNIX-LISTEN:$sock" STDOUT >"$out" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_socket "$sock"
	np_io "$in" /dev/null -N -U "$sock"
	assert_equal "$NP_RC" 0
	np_status "$pid"
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "-lU listener receives 4 MiB from a socat client and reports the path" {
	local in sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/out
	in=$(np_random_file in 4M)
	np_listen_exec -U "$sock"
	run -0 head -n 1 "$BATS_TEST_TMPDIR/listen.err"
	assert_output "Listening on $sock"
	timeout 10 socat -u "OPEN:$in" "UNIX-CONNECT:$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	run -0 grep -Fx "Connection received on $sock" \
	    "$BATS_TEST_TMPDIR/listen.err"
}

@test "-U client streams 4 MiB through a python3 echo server" {
	local in sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 4M)
	np_python_unix STREAM "$sock" "$PY_ECHO"
	np_io "$in" "$out" -N -U "$sock"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "nc.openbsd -U client sends to a -lU listener" {
	local in sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/out
	in=$(np_random_file in 1M)
	np_listen_exec -U "$sock"
	timeout 10 nc.openbsd -N -U "$sock" <"$in"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "-U client reads from an nc.openbsd -lU listener" {
	local in sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 1M)
	NC_IN=$in np_nc_listen -N -U "$sock"
	np_io /dev/null "$out" -U "$sock"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "-uU client sends three datagrams that arrive as three, and gets the answers" {
	local sock=$BATS_TEST_TMPDIR/d.sock out=$BATS_TEST_TMPDIR/got pid
	local py=$BATS_TEST_TMPDIR/py.out
	np_fifo_held in.fifo
	np_python_unix DGRAM "$sock" "$PY_DGRAM_THREE"
	"${NP[@]}" -u -U "$sock" <"$FIFO" >"$out" \
	    2>"$BATS_TEST_TMPDIR/np.err" 3>&- &
	pid=$!
	np_track "$pid"
	# One write at a time, each read before the next: one datagram each.
	head -c 100 /dev/zero >"$FIFO"
	np_wait_for "$py" '^100 '
	head -c 2000 /dev/urandom >"$FIFO"
	np_wait_for "$py" '^2000 '
	printf 'xyz' >"$FIFO"
	np_wait_for "$py" '^3 '
	run -0 cut -d' ' -f1 "$py"
	assert_output "$(printf '100\n2000\n3')"
	# The client bound an address the server could answer.
	run -0 sed -n 1p "$py"
	refute_output --regexp "^100 (None|b''|)$"
	np_wait_for "$out" 'r1r22r333'
	assert_equal "$(cat "$out")" r1r22r333
}

@test "-luU listener takes datagrams and answers the sender one datagram per write" {
	local sock=$BATS_TEST_TMPDIR/d.sock cli=$BATS_TEST_TMPDIR/c.sock
	local out=$BATS_TEST_TMPDIR/out py=$BATS_TEST_TMPDIR/py.out
	np_fifo_held in.fifo
	NP_IN=$FIFO np_listen_exec -u -U "$sock"
	run -0 head -n 1 "$BATS_TEST_TMPDIR/listen.err"
	assert_output "Bound on $sock"
	NP_PY_DEST=$sock np_python_unix DGRAM "$cli" "$PY_DGRAM_CLIENT"
	np_wait_for "$py" '^sent$'
	np_wait_for "$out" "^a{7}b{3000}c\$"
	printf 'one' >"$FIFO"
	np_wait_for "$py" '^3$'
	printf 'seven..' >"$FIFO"
	np_wait_for "$py" '^7$'
	printf 'x' >"$FIFO"
	np_wait_for "$py" '^1$'
	assert_equal "$(cat "$py")" "$(printf 'sent\n3\n7\n1')"
}

@test "-lU listens on an abstract @name and creates no file" {
	local name=@netpipe-$$-$BATS_TEST_NUMBER in out=$BATS_TEST_TMPDIR/out
	in=$(np_random_file in 1M)
	cd "$BATS_TEST_TMPDIR"
	np_listen_exec -U "$name"
	run -0 head -n 1 "$BATS_TEST_TMPDIR/listen.err"
	assert_output "Listening on $name"
	timeout 10 socat -u "OPEN:$in" "ABSTRACT-CONNECT:${name#@}"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	[ ! -e "$name" ] && [ ! -e "${name#@}" ]
}

@test "-U client connects to a python3 listener on an abstract @name" {
	local name=@netpipe-$$-$BATS_TEST_NUMBER in out=$BATS_TEST_TMPDIR/got
	in=$(np_random_file in 1M)
	np_python_unix STREAM "$name" "$PY_ECHO"
	np_io "$in" "$out" -N -U "$name"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "-lU never deletes a regular file in its way" {
	local path=$BATS_TEST_TMPDIR/not-a-socket sum
	echo "precious data" >"$path"
	sum=$(np_sha "$path")
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l -U "$path" </dev/null
	assert_equal "$stderr" "netpipe: $path: exists and is not a socket"
	[ -f "$path" ]
	assert_equal "$(np_sha "$path")" "$sum"
}

@test "-lU never steals the path of a live python3 listener" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	np_python_unix STREAM "$sock" "$PY_PRINT_EACH"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l -U "$sock" </dev/null
	assert_equal "$stderr" "netpipe: $sock: Address already in use"
	# The first listener still has its path.
	echo "still mine" | timeout 10 nc.openbsd -N -U "$sock"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^still mine$'
}

@test "-lU never steals the path of a live netpipe -k listener" {
	local sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/out
	# -k: the second listener's probe connection is a session of its own.
	np_listen_exec -k -U "$sock"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l -U "$sock" </dev/null
	assert_equal "$stderr" "netpipe: $sock: Address already in use"
	[ -S "$sock" ]
	echo "first" | timeout 10 socat -u STDIN "UNIX-CONNECT:$sock"
	np_wait_for "$out" '^first$'
	kill -0 "$NP_PID"
}

@test "-lU never takes the only session of a live one-shot netpipe listener" {
	local sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/out
	np_listen_exec -U "$sock"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l -U "$sock" </dev/null
	assert_equal "$stderr" "netpipe: $sock: Address already in use"
	# The probe was no session: the first listener is still waiting.
	np_alive_for "$NP_PID" 200
	[ ! -s "$out" ]
	echo "first" | timeout 10 nc.openbsd -N -U "$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" first
}

@test "-luU never takes the path of a live datagram listener, which keeps receiving" {
	local sock=$BATS_TEST_TMPDIR/d.sock out=$BATS_TEST_TMPDIR/out
	np_listen_exec -u -U "$sock"
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l -u -U "$sock" </dev/null
	assert_equal "$stderr" "netpipe: $sock: Address already in use"
	printf 'dgram\n' | timeout 10 socat -u STDIN "UNIX-SENDTO:$sock"
	np_wait_for "$out" '^dgram$'
}

@test "-lU replaces a stale socket file" {
	local sock=$BATS_TEST_TMPDIR/s.sock out=$BATS_TEST_TMPDIR/out
	python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)" "$sock"
	[ -S "$sock" ]
	np_listen_exec -U "$sock"
	echo "fresh" | timeout 10 nc.openbsd -N -U "$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" fresh
}

@test "-lU removes its socket file when the session ends" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	np_listen_exec -U "$sock"
	[ -S "$sock" ]
	echo bye | timeout 10 "${NP[@]}" -N -U "$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	[ ! -e "$sock" ]
}

@test "-lU removes its socket file on SIGTERM and exits 143" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	np_listen_exec -U "$sock"
	[ -S "$sock" ]
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	[ ! -e "$sock" ]
}

@test "-lU removes its socket file on SIGINT and exits 130" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	NP_DFL_INT=1 np_listen_exec -U "$sock"
	[ -S "$sock" ]
	kill -INT "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 130
	[ ! -e "$sock" ]
}

@test "-luU removes its socket file on SIGTERM and exits 143" {
	local sock=$BATS_TEST_TMPDIR/d.sock
	np_listen_exec -u -U "$sock"
	[ -S "$sock" ]
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	[ ! -e "$sock" ]
}

@test "-lU removes its socket file on SIGTERM during a session" {
	local sock=$BATS_TEST_TMPDIR/s.sock pid
	np_fifo_held in.fifo
	np_listen_exec -U "$sock"
	socat -u "OPEN:$FIFO" "UNIX-CONNECT:$sock" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received on '
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	[ ! -e "$sock" ]
}

@test "a Unix socket path that is too long is a usage error (exit 2)" {
	local long
	long=$BATS_TEST_TMPDIR/$(printf 'x%.0s' {1..120})
	run -2 --separate-stderr timeout 10 "${NP[@]}" -l -U "$long" </dev/null
	[[ $stderr == "netpipe: $long: path is too long"* ]]
	[ ! -e "$long" ]
	run -2 --separate-stderr timeout 10 "${NP[@]}" -U "$long" </dev/null
	[[ $stderr == "netpipe: $long: path is too long"* ]]
}

@test "-uU -s PATH binds the client there and removes it on exit" {
	local sock=$BATS_TEST_TMPDIR/d.sock cli=$BATS_TEST_TMPDIR/c.sock
	np_python_unix DGRAM "$sock" "$PY_DGRAM_BYE"
	run -0 timeout 10 "${NP[@]}" -u -U -s "$cli" -W 1 "$sock" < <(echo hi)
	assert_output bye
	np_wait_for "$BATS_TEST_TMPDIR/py.out" .
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$cli"
	[ ! -e "$cli" ]
}

@test "-uU client binds an autobound abstract name, as the man page says, and leaves no file" {
	local sock=$BATS_TEST_TMPDIR/d.sock peer
	np_python_unix DGRAM "$sock" "$PY_DGRAM_BYE"
	run -0 timeout 10 "${NP[@]}" -u -U -W 1 "$sock" < <(echo hi)
	assert_output bye
	np_wait_for "$BATS_TEST_TMPDIR/py.out" .
	peer=$(cat "$BATS_TEST_TMPDIR/py.out")
	# The man page says what it is: an autobound abstract name, five
	# hex digits after the NUL (python3 prints it as bytes); no file.
	[[ $peer =~ ^b\'\\x00[0-9a-f]{5}\'$ ]] || fail "peer address: $peer"
}

@test "-U client to a path nobody listens on fails (exit 1)" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -U \
	    "$BATS_TEST_TMPDIR/missing.sock" </dev/null
	[[ $stderr == "netpipe: "*"No such file or directory" ]]
	assert_output ""
}

# long_abstract N: "@" and N characters; 107 fill the whole of sun_path.
long_abstract() {
	local n=$1
	printf '@np%s-' "$$"
	printf 'x%.0s' $(seq $((n - 3 - ${#$})))
}

@test "-lU @name of 107 characters, filling sun_path without a NUL, listens; nc.openbsd and -U reach it" {
	local name
	name=$(long_abstract 107)
	[ "${#name}" = 108 ]
	np_listen_exec -U "$name"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on $name"
	# python3 sees the full 107 bytes after the NUL, no more, no less.
	run -0 timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("\0" + sys.argv[1][1:])
print(len(s.getpeername()))
s.close()' "$name"
	assert_output 108
	np_status "$NP_PID"
	np_listen_exec -U "$name"
	echo "via nc" | timeout 10 nc.openbsd -N -U "$name"
	np_status "$NP_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "via nc"
	np_listen_exec -U "$name"
	echo "via netpipe" | timeout 10 "${NP[@]}" -N -U "$name"
	np_status "$NP_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "via netpipe"
	# One more character cannot fit.
	run -2 --separate-stderr timeout 10 "${NP[@]}" -lU "${name}y" </dev/null
	assert_equal "${stderr_lines[0]}" "netpipe: ${name}y: path is too long"
}

@test "-uU -s @name of 107 characters binds the client there; the peer sees all of it" {
	local sock=$BATS_TEST_TMPDIR/d.sock name
	name=$(long_abstract 107)
	np_python_unix DGRAM "$sock" '
d, peer = s.recvfrom(65536)
print(peer.decode() if isinstance(peer, bytes) else peer, flush=True)
s.sendto(b"bye\n", peer)
'
	run -0 timeout 10 "${NP[@]}" -u -U -s "$name" -W 1 "$sock" < <(echo hi)
	assert_output bye
	np_wait_for "$BATS_TEST_TMPDIR/py.out" .
	assert_equal "$(tr '\0' @ <"$BATS_TEST_TMPDIR/py.out")" "$name"
	# A -luU -v listener prints all 107 characters of the sender's name,
	# and answers it there (the client waits for that answer).
	echo reply >"$BATS_TEST_TMPDIR/reply"
	NP_IN=$BATS_TEST_TMPDIR/reply np_listen_exec -u -U \
	    "$BATS_TEST_TMPDIR/l.sock"
	run -0 timeout 10 "${NP[@]}" -u -U -s "$name" -W 1 \
	    "$BATS_TEST_TMPDIR/l.sock" <<<hi
	assert_output reply
	assert_equal "$(sed -n 2p "$BATS_TEST_TMPDIR/listen.err")" \
	    "Connection received on $name"
}

@test "-lU -s PATH listens on PATH, as nc.openbsd takes it; a path given twice is a usage error" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	np_listen_exec -U -s "$sock"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/listen.err")" \
	    "Listening on $sock"
	echo "to -s" | timeout 10 nc.openbsd -N -U "$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "to -s"
	[ ! -e "$sock" ]
	np_fails 2 "netpipe: -s $sock and $sock.2: give the socket path once" \
	    -lU -s "$sock" "$sock.2"
	[ ! -e "$sock" ] && [ ! -e "$sock.2" ]
}

@test "-luU -s PATH binds the datagram listener at PATH" {
	local sock=$BATS_TEST_TMPDIR/s.sock
	np_listen_exec -u -U -s "$sock" -W 1
	printf 'dgram' | timeout 10 socat -u - "UNIX-SENDTO:$sock"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" dgram
}
