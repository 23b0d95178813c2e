#!/usr/bin/env bats
# netpipe -l ... --forward DEST (issue 15): a port forwarder on one event
# loop, with real servers behind it (python3 http.server, redis-server,
# sshd, nginx reading the PROXY protocol, socat speaking TLS) and real
# clients in front (curl, redis-cli, redis-benchmark, ssh, openssl
# s_client), every one on a port the kernel chose or a Unix socket.

load helpers

setup_file() {
	tls_pki
}

# fw_start ARGS...: the forwarder, `netpipe -v -l 127.0.0.1 0 ARGS`; sets
# FW_PID, FW_PORT and FW_ERR (its stderr).
fw_start() {
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen 127.0.0.1 0 "$@" || return 1
	FW_PID=$NP_PID FW_PORT=$NP_PORT FW_ERR=$BATS_TEST_TMPDIR/fw.err
}

# fw_fds PID: how many descriptors PID holds.
fw_fds() {
	ls "/proc/$1/fd" | wc -l
}


# A backend that sends the file in sys.argv[1] and half-closes first, then
# reads to EOF and prints the sha256 of what it read.
PY_SEND_THEN_SHA='
import hashlib
c, a = s.accept()
c.sendall(open(sys.argv[1], "rb").read())
c.shutdown(socket.SHUT_WR)
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
c.close()
'

# Echo each connection's bytes until EOF, many connections one at a time.
PY_ECHO_MANY='
while True:
    c, a = s.accept()
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
'

# Echo every connection's bytes until EOF, all connections at once.
PY_ECHO_THREADS='
import threading
def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, a = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
'


# fw_fake_proxy PORTFILE HANDSHAKE: a python3 proxy on 127.0.0.1 that
# takes one client, runs HANDSHAKE (python with the client in c; it prints
# what the test checks to pp.out and connects u onward), then relays both
# ways.  Waits (bounded) for its port in PORTFILE.
fw_fake_proxy() {
	python3 -c "
import os, socket, threading
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(8)
open('$1.tmp', 'w').write(str(s.getsockname()[1]))
os.rename('$1.tmp', '$1')
def pipe(a, b):
    while True:
        d = a.recv(65536)
        if not d:
            b.shutdown(socket.SHUT_WR)
            return
        b.sendall(d)
c, a = s.accept()
$2
threading.Thread(target=pipe, args=(u, c)).start()
pipe(c, u)
" >"$BATS_TEST_TMPDIR/pp.out" 3>&- &
	np_track $!
	np_wait_for "$1" '^[0-9]+$'
}

@test "the client's half-close reaches the backend, whose reply comes back whole (8 MiB each way)" {
	local up down
	up=$(np_random_file up 8M)
	down=$(np_random_file down 8M)
	np_py_listen STREAM "$PY_SHA_THEN_SEND" "$down"
	fw_start --forward "127.0.0.1:$PY_PORT"
	timeout 20 nc.openbsd -N 127.0.0.1 "$FW_PORT" <"$up" \
	    >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/got")" "$(np_sha "$up")"
	tail -c +66 "$BATS_TEST_TMPDIR/got" >"$BATS_TEST_TMPDIR/body"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/body")" "$(np_sha "$down")"
	np_wait_for "$FW_ERR" "closed: 8388608 bytes to 127.0.0.1 $PY_PORT, 8388673 bytes back"
}

@test "the backend's half-close reaches the client, which goes on sending (8 MiB each way)" {
	local up down
	up=$(np_random_file up 8M)
	down=$(np_random_file down 8M)
	np_py_listen STREAM "$PY_SEND_THEN_SHA" "$down"
	fw_start --forward "127.0.0.1:$PY_PORT"
	# The client reads the backend's 8 MiB and its EOF first, then sends.
	run -0 timeout 20 python3 -c '
import hashlib, socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
c.sendall(open(sys.argv[2], "rb").read())
c.shutdown(socket.SHUT_WR)
print(h.hexdigest())
c.recv(1)
' "$FW_PORT" "$up"
	assert_output "$(np_sha "$down")"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$up")"
}

@test "curl: 50 requests at once through the forwarder to python3 http.server" {
	local www=$BATS_TEST_TMPDIR/www i
	mkdir "$www"
	head -c 300K /dev/urandom >"$www/blob"
	/usr/bin/python3 -m http.server 0 --bind 127.0.0.1 --directory "$www" \
	    >"$BATS_TEST_TMPDIR/http.out" 2>&1 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/http.out" 'port [0-9]+'
	local hp
	hp=$(sed -nE 's/.* port ([0-9]+) .*/\1/p' "$BATS_TEST_TMPDIR/http.out" |
	    head -n 1)
	fw_start --forward "127.0.0.1:$hp"
	local pids=()
	for i in $(seq 50); do
		timeout 30 curl -sf -o "$BATS_TEST_TMPDIR/got.$i" \
		    "http://127.0.0.1:$FW_PORT/blob" 3>&- &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 50); do
		assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got.$i")" \
		    "$(np_sha "$www/blob")"
	done
	np_wait_for "$FW_ERR" '^Connection from .* closed: ' 10 50
}

@test "redis-cli and redis-benchmark through a TCP port forwarded to redis-server's Unix socket" {
	local dir=$BATS_TEST_TMPDIR
	redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' \
	    --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 3>&- &
	np_track $!
	np_until 10 test -S "$dir/redis.sock" || fail "redis-server did not start"
	fw_start --forward "$dir/redis.sock"
	run -0 timeout 10 redis-cli -h 127.0.0.1 -p "$FW_PORT" set np forwarded
	assert_output OK
	run -0 timeout 10 redis-cli -h 127.0.0.1 -p "$FW_PORT" get np
	assert_output forwarded
	run -0 timeout 60 redis-benchmark -h 127.0.0.1 -p "$FW_PORT" -q \
	    -n 10000 -t set,get
	# redis-benchmark -q redraws its line with CR: match anywhere.
	assert_output --regexp 'SET: [0-9.]+ requests per second'
	assert_output --regexp 'GET: [0-9.]+ requests per second'
	refute_output --partial error
}

@test "an abstract-socket backend (--forward @name)" {
	local name=@np-fwd-$$-$BATS_TEST_NUMBER data
	data=$(np_random_file data 3M)
	np_python_unix STREAM "$name" "$PY_ECHO"
	fw_start --forward "$name"
	run -0 timeout 20 python3 -c '
import hashlib, socket, sys, threading
d = open(sys.argv[2], "rb").read()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send():
    c.sendall(d)
    c.shutdown(socket.SHUT_WR)
threading.Thread(target=send, daemon=True).start()
h = hashlib.sha256()
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
print(h.hexdigest())' "$FW_PORT" "$data"
	assert_output "$(np_sha "$data")"
}

@test "IPv6 on both sides: [::1] listener forwarding to [::1]:port" {
	local data port portfile=$BATS_TEST_TMPDIR/py6.port
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
	    2>/dev/null || skip "no IPv6 loopback"
	data=$(np_random_file data 2M)
	python3 -c "
import socket, os
s = socket.socket(socket.AF_INET6)
s.bind(('::1', 0))
s.listen(4)
open('$portfile.tmp', 'w').write(str(s.getsockname()[1]))
os.rename('$portfile.tmp', '$portfile')
c, a = s.accept()
print(a[0], flush=True)
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
c.close()
" >"$BATS_TEST_TMPDIR/py6.out" 3>&- &
	np_track $!
	np_wait_for "$portfile" '^[0-9]+$'
	port=$(cat "$portfile")
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen ::1 0 --forward "[::1]:$port"
	timeout 20 nc.openbsd -N ::1 "$NP_PORT" <"$data" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$data")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py6.out")" "::1"
}

@test "a backend that refuses: the client is cut off at once, the failure is logged, and the forwarder goes on" {
	np_closed_port
	fw_start --forward "127.0.0.1:$CLOSED_PORT"
	run timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    print("eof" if c.recv(10) == b"" else "data")
except ConnectionResetError:
    print("reset")' "$FW_PORT"
	assert_output reset
	np_wait_for "$FW_ERR" "^netpipe: forward: 127.0.0.1 [0-9]+: connect to 127.0.0.1 $CLOSED_PORT: Connection refused$"
	kill -0 "$FW_PID"
}

@test "-w bounds the connect to DEST" {
	local portfile=$BATS_TEST_TMPDIR/full.port
	# A listener whose backlog (0) is full and which never accepts: the
	# kernel drops further SYNs, so a connect to it hangs.
	python3 -c "
import socket, os, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
fill = []
for i in range(8):
    x = socket.socket()
    x.setblocking(False)
    x.connect_ex(s.getsockname())
    fill.append(x)
open('$portfile.tmp', 'w').write(str(s.getsockname()[1]))
os.rename('$portfile.tmp', '$portfile')
time.sleep(60)
" 3>&- &
	np_track $!
	np_wait_for "$portfile" '^[0-9]+$'
	fw_start -w 1 --forward "127.0.0.1:$(cat "$portfile")"
	run -0 timeout 10 python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.monotonic()
try:
    c.recv(10)
except ConnectionResetError:
    pass
print(round(time.monotonic() - t))' "$FW_PORT"
	[ "$output" -ge 1 ] && [ "$output" -le 3 ]
	np_wait_for "$FW_ERR" 'connect to 127.0.0.1 [0-9]+: Connection timed out$'
}

@test "a backend that resets mid-stream resets the client" {
	np_py_listen STREAM '
import struct
c, a = s.accept()
c.recv(1000)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
' x
	fw_start --forward "127.0.0.1:$PY_PORT"
	run timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"x" * 100)
try:
    while c.recv(65536):
        pass
    print("eof")
except ConnectionResetError:
    print("reset")' "$FW_PORT"
	assert_output reset
	np_wait_for "$FW_ERR" '^Connection from .* closed \(reset\)'
}

@test "a client that resets resets the backend" {
	np_py_listen STREAM '
c, a = s.accept()
try:
    while c.recv(65536):
        pass
    print("eof", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
' x
	fw_start --forward "127.0.0.1:$PY_PORT"
	timeout 10 python3 -c '
import socket, struct, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"hello")
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()' "$FW_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^(eof|reset)$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" reset
}

@test "500 short-lived pairs leave no descriptor behind" {
	local before
	np_py_listen STREAM "$PY_ECHO_MANY" x
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen 127.0.0.1 0 \
	    --forward "127.0.0.1:$PY_PORT"
	before=$(fw_fds "$NP_PID")
	run -0 timeout 60 python3 -c '
import socket, sys
for i in range(500):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    c.sendall(b"ping %d\n" % i)
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        got += d
    assert got == b"ping %d\n" % i, got
    c.close()
print("ok")' "$NP_PORT"
	assert_output ok
	np_wait_for "$BATS_TEST_TMPDIR/fw.err" '^Connection from .* closed' 10 500
	assert_equal "$(fw_fds "$NP_PID")" "$before"
}

@test "--max-conns holds the next peer until a pair ends" {
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	fw_start --max-conns 1 --forward "127.0.0.1:$PY_PORT"
	run -0 timeout 20 python3 -c '
import socket, sys
p = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", p))
a.sendall(b"a")
assert a.recv(1) == b"a"
b = socket.create_connection(("127.0.0.1", p))
b.sendall(b"b")
b.settimeout(0.5)
try:
    b.recv(1)
    print("b served early")
    sys.exit(1)
except socket.timeout:
    pass
a.close()
b.settimeout(10)
print(b.recv(1).decode())' "$FW_PORT"
	assert_output b
}

@test "--deny refuses a peer before DEST is dialled" {
	np_py_listen STREAM 'c, a = s.accept(); print("dialled", flush=True)' x
	fw_start --deny 127.0.0.1 --forward "127.0.0.1:$PY_PORT"
	timeout 10 nc.openbsd 127.0.0.1 "$FW_PORT" </dev/null || true
	np_wait_for "$FW_ERR" '^Connection from 127.0.0.1 [0-9]+ refused$'
	run cat "$BATS_TEST_TMPDIR/py.out"
	assert_output ""
}

@test "SIGTERM closes every pair and exits 143, with --stats summing them" {
	np_py_listen STREAM "$PY_ECHO_MANY" x
	fw_start --stats --forward "127.0.0.1:$PY_PORT"
	timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"hello\n")
assert c.recv(6) == b"hello\n"
print("held", flush=True)
c.recv(1)
print("closed", flush=True)' "$FW_PORT" >"$BATS_TEST_TMPDIR/cl.out" 3>&- &
	local cl=$!
	np_track "$cl"
	np_wait_for "$BATS_TEST_TMPDIR/cl.out" '^held$'
	kill -TERM "$FW_PID"
	np_wait_exit "$FW_PID"
	run wait "$FW_PID"
	assert_equal "$status" 143
	np_wait_for "$BATS_TEST_TMPDIR/cl.out" '^closed$'
	np_wait_for "$FW_ERR" '^netpipe: forwarded 1 connection \(0 failed\): 6 bytes to 127.0.0.1 [0-9]+, 6 bytes back'
}

@test "-u: DNS-shaped requests from 20 clients each get their own answers" {
	np_py_listen DGRAM '
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d[:2] + b"\x81\x80" + d[4:] + str(a[1]).encode(), a)
' x
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen -u 127.0.0.1 0 \
	    --forward "127.0.0.1:$PY_PORT"
	run -0 timeout 20 python3 -c '
import os, socket, sys
p = int(sys.argv[1])
cs = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for i in range(20)]
seen = {}
for r in range(5):
    for i, c in enumerate(cs):
        q = bytes([i, r]) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + os.urandom(30) + b"\x00"
        c.sendto(q, ("127.0.0.1", p))
        c.settimeout(5)
        d, a = c.recvfrom(2048)
        assert a == ("127.0.0.1", p), a
        assert d[:2] == q[:2] and d[2:4] == b"\x81\x80" and d[4:len(q)] == q[4:], d
        seen.setdefault(i, set()).add(d[len(q):])
# Each client kept one session, and so one source port at the backend.
assert all(len(v) == 1 for v in seen.values()), seen
assert len(set(next(iter(v)) for v in seen.values())) == 20
print("ok")' "$NP_PORT"
	assert_output ok
	run grep -c '^Forwarding 127.0.0.1 [0-9]* to 127.0.0.1' "$BATS_TEST_TMPDIR/fw.err"
	assert_output 20
}

@test "-u: a silent session ends after -w, and the next datagram opens a new one" {
	np_py_listen DGRAM '
while True:
    d, a = s.recvfrom(2048)
    s.sendto(str(a[1]).encode(), a)
' x
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen -u -w 0.5 127.0.0.1 0 \
	    --forward "127.0.0.1:$PY_PORT"
	# The client waits (bounded) for the forwarder to say the session
	# ended before it sends again.
	run -0 timeout 20 python3 -c '
import socket, sys, time
p = int(sys.argv[1])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.sendto(b"a", ("127.0.0.1", p))
first = c.recv(100)
for i in range(500):
    if "ended after 500 ms of silence" in open(sys.argv[2]).read():
        break
    time.sleep(0.02)
c.sendto(b"b", ("127.0.0.1", p))
second = c.recv(100)
print("new" if first != second else "same")' "$NP_PORT" "$BATS_TEST_TMPDIR/fw.err"
	assert_output new
	assert_line --index 0 new
	run grep -c '^Session of 127.0.0.1 [0-9]* ended after 500 ms of silence: 1 bytes to 127.0.0.1 [0-9]*, 5 bytes back$' \
	    "$BATS_TEST_TMPDIR/fw.err"
	assert_output 1
}

@test "TLS termination: openssl s_client and curl --cacert through --tls to a plain http.server" {
	local www=$BATS_TEST_TMPDIR/www hp
	mkdir "$www"
	head -c 200K /dev/urandom >"$www/blob"
	/usr/bin/python3 -m http.server 0 --bind 127.0.0.1 --directory "$www" \
	    >"$BATS_TEST_TMPDIR/http.out" 2>&1 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/http.out" 'port [0-9]+'
	hp=$(sed -nE 's/.* port ([0-9]+) .*/\1/p' "$BATS_TEST_TMPDIR/http.out" |
	    head -n 1)
	fw_start --tls --tls-cert "$TLS_DIR/server.pem" \
	    --tls-key "$TLS_DIR/server.key" --forward "127.0.0.1:$hp"
	timeout 20 curl -sf --cacert "$TLS_DIR/ca.pem" \
	    -o "$BATS_TEST_TMPDIR/got" "https://localhost:$FW_PORT/blob"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$www/blob")"
	# -ign_eof: after the request, read until the server closes.
	run -0 timeout 20 openssl s_client -quiet -ign_eof \
	    -verify_return_error -verify_hostname localhost \
	    -CAfile "$TLS_DIR/ca.pem" -connect "127.0.0.1:$FW_PORT" \
	    < <(printf 'GET /blob HTTP/1.0\r\n\r\n')
	assert_output --partial 'HTTP/1.0 200 OK'
}

@test "--forward-tls: plain clients in front, a socat TLS server behind, verified against --forward-tls-ca" {
	local data port
	data=$(np_random_file data 2M)
	socat -d -d "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,cert=$TLS_DIR/server.pem,key=$TLS_DIR/server.key,verify=0" \
	    SYSTEM:cat 2>"$BATS_TEST_TMPDIR/socat.err" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/socat.err" 'listening on .*:[0-9]+$'
	port=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' \
	    "$BATS_TEST_TMPDIR/socat.err")
	fw_start --forward "127.0.0.1:$port" --forward-tls \
	    --forward-tls-ca "$TLS_DIR/ca.pem" --forward-tls-name localhost
	timeout 20 nc.openbsd -N 127.0.0.1 "$FW_PORT" <"$data" \
	    >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$data")"
}

@test "--forward-tls refuses a backend whose certificate the CA did not sign" {
	local port
	socat -d -d "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,cert=$TLS_DIR/self.pem,key=$TLS_DIR/self.key,verify=0" \
	    SYSTEM:cat 2>"$BATS_TEST_TMPDIR/socat.err" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/socat.err" 'listening on .*:[0-9]+$'
	port=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' \
	    "$BATS_TEST_TMPDIR/socat.err")
	fw_start --forward "127.0.0.1:$port" --forward-tls \
	    --forward-tls-ca "$TLS_DIR/ca.pem" --forward-tls-name localhost
	run timeout 10 nc.openbsd 127.0.0.1 "$FW_PORT" </dev/null
	assert_output ""
	np_wait_for "$FW_ERR" "^netpipe: tls: handshake: 127.0.0.1 $port: .*certificate"
}

# fw_nginx: nginx on a Unix socket in the test's directory, reading the
# PROXY protocol and logging what it said; sets NGX_SOCK and NGX_LOG.
fw_nginx() {
	local dir=$BATS_TEST_TMPDIR/ngx
	mkdir -p "$dir"
	NGX_SOCK=$dir/ngx.sock NGX_LOG=$dir/access.log
	cat >"$dir/nginx.conf" <<-EOF
	daemon off;
	master_process off;
	pid $dir/nginx.pid;
	error_log $dir/error.log;
	events { worker_connections 64; }
	http {
	    access_log off;
	    client_body_temp_path $dir;
	    proxy_temp_path $dir;
	    fastcgi_temp_path $dir;
	    uwsgi_temp_path $dir;
	    scgi_temp_path $dir;
	    log_format pp '\$proxy_protocol_addr \$proxy_protocol_port';
	    server {
	        listen unix:$NGX_SOCK proxy_protocol;
	        access_log $NGX_LOG pp;
	        location / { return 200 "hello\n"; }
	    }
	}
	EOF
	nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" \
	    2>"$dir/stderr" 3>&- &
	np_track $!
	np_until 10 test -S "$NGX_SOCK" || fail "nginx did not start"
}

@test "--proxy-protocol (version 2) tells nginx the client's address and port" {
	local cport
	fw_nginx
	fw_start --forward "$NGX_SOCK" --proxy-protocol
	run -0 timeout 10 curl -sf -w '%{local_port}' \
	    "http://127.0.0.1:$FW_PORT/"
	cport=${output#hello}
	np_wait_for "$NGX_LOG" '^127\.0\.0\.1 [0-9]+$'
	assert_equal "$(cat "$NGX_LOG")" "127.0.0.1 ${cport//[!0-9]/}"
}

@test "--proxy-protocol=1 tells nginx the client's address and port" {
	local cport
	fw_nginx
	fw_start --forward "$NGX_SOCK" --proxy-protocol=1
	run -0 timeout 10 curl -sf -w '%{local_port}' \
	    "http://127.0.0.1:$FW_PORT/"
	cport=${output#hello}
	np_wait_for "$NGX_LOG" '^127\.0\.0\.1 [0-9]+$'
	assert_equal "$(cat "$NGX_LOG")" "127.0.0.1 ${cport//[!0-9]/}"
}

@test "--proxy-protocol=1 sends the exact version 1 line first" {
	np_py_listen STREAM '
c, a = s.accept()
f = c.makefile("rb")
print(f.readline().decode().rstrip("\r\n"), flush=True)
' x
	fw_start --forward "127.0.0.1:$PY_PORT" --proxy-protocol=1
	run -0 timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(c.getsockname()[1])
c.recv(1)' "$FW_PORT"
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^PROXY '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" \
	    "PROXY TCP4 127.0.0.1 127.0.0.1 $output $FW_PORT"
}

@test "ssh through the forwarder to the test's own sshd, 4 MiB each way" {
	local conf=$BATS_TEST_TMPDIR/sshd_config key=$BATS_TEST_TMPDIR
	local up down err=$BATS_TEST_TMPDIR/socat.err port
	[ "$(id -u)" = 0 ] || skip "sshd -i needs root here"
	mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$key/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$key/user_key"
	printf '%s\n' "HostKey $key/host_key" \
	    "AuthorizedKeysFile $key/user_key.pub" \
	    'PermitRootLogin prohibit-password' 'PasswordAuthentication no' \
	    'KbdInteractiveAuthentication no' 'UsePAM no' 'StrictModes no' \
	    'PidFile none' 'LogLevel ERROR' >"$conf"
	socat -d -d TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork \
	    "EXEC:/usr/sbin/sshd -i -f $conf" 2>"$err" 3>&- &
	np_track $!
	np_wait_for "$err" 'listening on .*:[0-9]+$'
	port=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' "$err")
	fw_start --forward "127.0.0.1:$port"
	up=$(np_random_file up 4M)
	down=$(np_random_file down 4M)
	run -0 timeout 30 ssh -F /dev/null -i "$key/user_key" \
	    -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -p "$FW_PORT" root@127.0.0.1 \
	    "cat >$BATS_TEST_TMPDIR/up.got; cat $down | sha256sum" <"$up"
	assert_output "$(np_sha "$down")  -"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/up.got")" "$(np_sha "$up")"
}

@test "usage errors: --forward needs -l and a valid DEST; its options need it" {
	run -2 --separate-stderr np --forward 127.0.0.1:80 127.0.0.1 80
	assert_equal "${stderr_lines[0]}" "netpipe: --forward requires -l"
	run -2 --separate-stderr np -l 0 --forward nowhere
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward: "nowhere" is invalid (want host:port, [IPv6]:port, /path or @name)'
	run -2 --separate-stderr np -l 0 --forward ::1:80
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward: "::1:80" is invalid (want host:port, [IPv6]:port, /path or @name)'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:0
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward: port: "0" is too small'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 --proxy-protocol=3
	assert_equal "${stderr_lines[0]}" 'netpipe: --proxy-protocol: "3" is invalid (want 1 or 2)'
	run -2 --separate-stderr np -l 0 --proxy-protocol
	assert_equal "${stderr_lines[0]}" 'netpipe: --proxy-protocol requires --forward'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 -e cat
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward and -e cannot be used together'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 --hex-dump /dev/null
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward and --hex-dump cannot be used together'
	run -2 --separate-stderr np -l -u 0 --forward /tmp/x.sock
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward with -u needs host:port, not a Unix path'
	np_closed_port
	run -2 --separate-stderr np -l 0 --forward /tmp/x.sock \
	    -x "127.0.0.1:$CLOSED_PORT"
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward to a Unix socket cannot go through -x'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 -W 3
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward and -W cannot be used together'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 --resume
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward and --resume cannot be used together'
	run -2 --separate-stderr np -l 0 --forward 127.0.0.1:80 --forward-tls-ca /dev/null
	assert_equal "${stderr_lines[0]}" 'netpipe: --forward-tls-ca requires --forward-tls'
}

# fw_microsocks: microsocks (SOCKS5, user alice, password s3cret) on
# 127.0.0.1, on a port the kernel chooses; sets SOCKS_PORT.
fw_microsocks() {
	microsocks -i 127.0.0.1 -p 0 -u alice -P s3cret \
	    >"$BATS_TEST_TMPDIR/microsocks.log" 2>&1 3>&- &
	local pid=$!
	np_track "$pid"
	np_until 10 np_ss_port "$pid" || fail "microsocks is not listening"
	SOCKS_PORT=$NP_SS_PORT
}

# fw_echo_client PORT FILE: send FILE through PORT to an echo service,
# read as many bytes back and print their sha256.  No half-close: a proxy
# such as microsocks ends both directions at the first EOF.
fw_echo_client() {
	timeout 20 python3 -c '
import hashlib, socket, sys, threading
d = open(sys.argv[2], "rb").read()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
threading.Thread(target=c.sendall, args=(d,), daemon=True).start()
h, n = hashlib.sha256(), 0
while n < len(d):
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
print(h.hexdigest())' "$1" "$2"
}

@test "-x: pairs go through microsocks (SOCKS5, -P with NETPIPE_PROXY_PASSWORD)" {
	local data
	data=$(np_random_file data 2M)
	fw_microsocks
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	NETPIPE_PROXY_PASSWORD=s3cret fw_start -x "127.0.0.1:$SOCKS_PORT" \
	    -P alice --forward "127.0.0.1:$PY_PORT"
	run -0 fw_echo_client "$FW_PORT" "$data"
	assert_output "$(np_sha "$data")"
	run -0 fw_echo_client "$FW_PORT" "$data"
	assert_output "$(np_sha "$data")"
}

@test "-x: a SOCKS5 proxy that refuses the password resets the client, with the reason" {
	fw_microsocks
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	NETPIPE_PROXY_PASSWORD=wrong fw_start -x "127.0.0.1:$SOCKS_PORT" \
	    -P alice --forward "127.0.0.1:$PY_PORT"
	run timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    print("eof" if c.recv(10) == b"" else "data")
except ConnectionResetError:
    print("reset")' "$FW_PORT"
	assert_output reset
	np_wait_for "$FW_ERR" "^netpipe: forward: 127.0.0.1 [0-9]+: proxy 127.0.0.1 port $SOCKS_PORT: SOCKS5: authentication as \"alice\" failed$"
}

@test "-x -X connect: pairs go through an HTTP CONNECT proxy, which sees the request for DEST" {
	local data ppfile=$BATS_TEST_TMPDIR/pp.port pp
	data=$(np_random_file data 2M)
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	# A CONNECT proxy: logs the request line, answers 200 with a header,
	# then relays both ways.
	fw_fake_proxy "$ppfile" "
f = c.makefile('rb')
line = f.readline()
while f.readline() not in (b'\r\n', b'\n'):
    pass
print(line.decode().strip(), flush=True)
host, port = line.split()[1].decode().rsplit(':', 1)
u = socket.create_connection((host, int(port)))
c.sendall(b'HTTP/1.0 200 Connection established\r\nX-Test: yes\r\n\r\n')
"
	pp=$(cat "$ppfile")
	fw_start -X connect -x "127.0.0.1:$pp" --forward "127.0.0.1:$PY_PORT"
	run -0 fw_echo_client "$FW_PORT" "$data"
	assert_output "$(np_sha "$data")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pp.out")" \
	    "CONNECT 127.0.0.1:$PY_PORT HTTP/1.0"
}

@test "-x -X 4: the SOCKS4 request names DEST's address and the -P user, and the pair then flows" {
	local data ppfile=$BATS_TEST_TMPDIR/pp.port pp
	data=$(np_random_file data 1M)
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	# A SOCKS4 proxy: prints the request in hex, grants it, relays.
	fw_fake_proxy "$ppfile" "
req = c.recv(8)
while not req[8:].endswith(b'\0'):
    req += c.recv(1)
print(req.hex(), flush=True)
port = int.from_bytes(req[2:4], 'big')
u = socket.create_connection((socket.inet_ntoa(req[4:8]), port))
c.sendall(b'\0\x5a' + req[2:8])
"
	pp=$(cat "$ppfile")
	fw_start -X 4 -x "127.0.0.1:$pp" -P bob --forward "127.0.0.1:$PY_PORT"
	run -0 fw_echo_client "$FW_PORT" "$data"
	assert_output "$(np_sha "$data")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pp.out")" \
	    "0401$(printf '%04x' "$PY_PORT")7f000001$(printf bob | od -An -tx1 | tr -d ' \n')00"
}

@test "-u: --max-conns bounds the session table; a further client's datagrams are dropped" {
	np_py_listen DGRAM '
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
' x
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen -u --max-conns 2 127.0.0.1 0 \
	    --forward "127.0.0.1:$PY_PORT"
	run -0 timeout 20 python3 -c '
import socket, sys
p = int(sys.argv[1])
cs = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for i in range(3)]
for i, c in enumerate(cs):
    c.settimeout(2 if i == 2 else 10)
    c.sendto(b"q%d" % i, ("127.0.0.1", p))
    try:
        print(c.recv(100).decode())
    except socket.timeout:
        print("dropped")' "$NP_PORT"
	assert_output "$(printf 'q0\nq1\ndropped')"
	np_wait_for "$BATS_TEST_TMPDIR/fw.err" '^forward: 2 sessions \(--max-conns\): a datagram dropped$'
}

@test "the soft descriptor limit is raised so that --max-conns pairs fit (six descriptors a pair)" {
	[ "$(ulimit -Hn)" = unlimited ] || (($(ulimit -Hn) >= 6064)) ||
	    skip "hard limit $(ulimit -Hn) is too low"
	# valgrind keeps the descriptors above its own soft limit for itself.
	[ -z "${NETPIPE_WRAP:-}" ] || skip "netpipe runs under $NETPIPE_WRAP"
	ulimit -Sn 1024
	fw_start --forward 127.0.0.1:9
	run awk '/^Max open files/ { print $4 }' "/proc/$FW_PID/limits"
	assert_output 6064
}

@test "--tls and --forward-tls at once: TLS in front and behind, 1 MiB echoed by socat" {
	local data port
	data=$(np_random_file data 1M)
	socat -d -d "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,cert=$TLS_DIR/server.pem,key=$TLS_DIR/server.key,verify=0" \
	    SYSTEM:cat 2>"$BATS_TEST_TMPDIR/socat.err" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/socat.err" 'listening on .*:[0-9]+$'
	port=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' \
	    "$BATS_TEST_TMPDIR/socat.err")
	fw_start --tls --tls-cert "$TLS_DIR/server.pem" \
	    --tls-key "$TLS_DIR/server.key" --forward "127.0.0.1:$port" \
	    --forward-tls --forward-tls-ca "$TLS_DIR/ca.pem" \
	    --forward-tls-name localhost
	# A python3 TLS client: 64 KiB out, 64 KiB back, until all is back.
	run -0 timeout 20 python3 -c '
import hashlib, socket, ssl, sys
d = open(sys.argv[2], "rb").read()
ctx = ssl.create_default_context(cafile=sys.argv[3])
c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
    server_hostname="localhost")
h = hashlib.sha256()
for i in range(0, len(d), 65536):
    c.sendall(d[i:i + 65536])
    n = min(65536, len(d) - i)
    while n > 0:
        b = c.recv(n)
        if not b:
            sys.exit("closed early")
        h.update(b)
        n -= len(b)
print(h.hexdigest())' "$FW_PORT" "$data" "$TLS_DIR/ca.pem"
	assert_output "$(np_sha "$data")"
}

@test "a Unix-socket listener forwards to TCP (-lU path --forward host:port)" {
	local data sock=$BATS_TEST_TMPDIR/front.sock
	data=$(np_random_file data 2M)
	np_py_listen STREAM "$PY_ECHO_THREADS" x
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen -U "$sock" \
	    --forward "127.0.0.1:$PY_PORT"
	np_until 10 test -S "$sock"
	timeout 20 nc.openbsd -N -U "$sock" <"$data" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$data")"
}

@test "-4 and -6 apply to DEST: a DEST of the other family cannot be looked up, exit 1" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -4 -l 127.0.0.1 0 \
	    --forward "[::1]:9"
	assert_equal "${stderr_lines[0]}" 'netpipe: getaddrinfo for host "::1" port 9: Address family for hostname not supported'
	run -1 --separate-stderr timeout 10 "${NP[@]}" -6 -l ::1 0 \
	    --forward "127.0.0.1:9"
	assert_equal "${stderr_lines[0]}" 'netpipe: getaddrinfo for host "127.0.0.1" port 9: Address family for hostname not supported'
}

@test "--proxy-protocol from an IPv6 client tells nginx its ::1 address" {
	fw_nginx
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
	    2>/dev/null || skip "no IPv6 loopback"
	NP_ERR=$BATS_TEST_TMPDIR/fw.err np_listen ::1 0 --forward "$NGX_SOCK" \
	    --proxy-protocol
	run -0 timeout 10 curl -sf "http://[::1]:$NP_PORT/"
	assert_output hello
	np_wait_for "$NGX_LOG" '^::1 [0-9]+$'
}
