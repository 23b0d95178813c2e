#!/usr/bin/env bats
# --tls against real peers on loopback: openssl s_server and s_client,
# socat's OPENSSL addresses, python3 ssl servers for the endings a real
# server will not give on demand (a cut stream, a plain-text or silent
# peer), and netpipe itself.  The CA and certificates are made here, at
# test time, and never committed.

load helpers

# The 64 MiB transfers get more time than a handshake needs; still bounded.
TLS_TIMEOUT=30

setup_file() {
	tls_pki
}

# tls_hash NAME: the hash of $TLS_DIR/NAME.pem as libtls writes it (and
# -v prints it): "SHA256:" and the hex sha256 of the DER certificate.
tls_hash() {
	echo "SHA256:$(openssl x509 -in "$TLS_DIR/$1.pem" -outform DER |
	    sha256sum | cut -d' ' -f1)"
}

# tls_s_server NAME [ARGS...]: start `openssl s_server` on 127.0.0.1 port 0
# for one connection with certificate NAME and wait for its
# "ACCEPT 127.0.0.1:PORT" line.  Its stdin is a fifo held open (EOF would
# end its session); its stdout, with what the client sent, goes to
# $BATS_TEST_TMPDIR/ssl.out.  Sets SSL_PID and SSL_PORT.
tls_s_server() {
	local name=$1 out=$BATS_TEST_TMPDIR/ssl.out
	shift
	np_fifo_held ssl.in
	: >"$out"
	openssl s_server -accept 127.0.0.1:0 -naccept 1 \
	    -cert "$TLS_DIR/$name.pem" -key "$TLS_DIR/$name.key" "$@" \
	    <"$FIFO" >"$out" 2>"$BATS_TEST_TMPDIR/ssl.err" 3>&- &
	SSL_PID=$!
	np_track "$SSL_PID"
	np_wait_for "$out" '^ACCEPT 127\.0\.0\.1:[0-9]+$' || return 1
	SSL_PORT=$(sed -nE 's/^ACCEPT 127\.0\.0\.1:([0-9]+)$/\1/p' "$out")
}

# tls_socat_listen OPTIONS ADDRESS: start `socat -d -d -u
# OPENSSL-LISTEN:0,bind=127.0.0.1,OPTIONS ADDRESS` (OPTIONS name the
# certificate) and set SOCAT_PID and SOCAT_PORT from its "listening on"
# line.
tls_socat_listen() {
	local err=$BATS_TEST_TMPDIR/socat.err
	: >"$err"
	socat -d -d -u "OPENSSL-LISTEN:0,bind=127.0.0.1,$1" "$2" \
	    2>"$err" 3>&- &
	SOCAT_PID=$!
	np_track "$SOCAT_PID"
	np_wait_for "$err" 'listening on .*:[0-9]+$' || return 1
	SOCAT_PORT=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' "$err")
}

# tls_random_file NAME SIZE: np_random_file, hashed as it is written (the
# 64 MiB tests read their input once less).  Sets TLS_IN and TLS_IN_SHA.
tls_random_file() {
	TLS_IN=$BATS_TEST_TMPDIR/$1
	TLS_IN_SHA=$(head -c "$2" /dev/urandom | tee "$TLS_IN" | sha256sum |
	    cut -d' ' -f1)
}

# python3 TLS server prologue for np_python_listen: accept one client and
# wrap it as `c` with the server certificate.
PY_TLS='
import hashlib, os, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["TLS_DIR"] + "/server.pem",
    os.environ["TLS_DIR"] + "/server.key")
c, a = s.accept()
c = ctx.wrap_socket(c, server_side=True)
'

# Read to the client's close_notify, print the sha256 of what came, then
# send $TLS_REPLY (after the close_notify: TLS half-close) and close_notify.
PY_TLS_REPLY='
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
print(h.hexdigest(), flush=True)
with open(os.environ["TLS_REPLY"], "rb") as f:
    c.sendall(f.read())
c.unwrap()
'

# Send a line, then close_notify, and report that the client answered it.
PY_TLS_BYE='
c.sendall(b"bye\n")
c.unwrap()
print("unwrapped", flush=True)
'

# Send 100000 bytes, then cut the TCP connection without close_notify
# (SSLSocket.shutdown shuts down the TCP socket beneath TLS).
PY_TLS_CUT='
import socket
c.sendall(b"x" * 100000)
c.shutdown(socket.SHUT_RDWR)
c.close()
'

@test "--tls verifies openssl s_server against --tls-ca; -v names version, cipher, subject and hash" {
	local hash
	tls_s_server server
	hash=$(tls_hash server)
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$SSL_PORT" <<<"hello"
	assert_equal "${stderr_lines[0]}" \
	    "Connection to localhost $SSL_PORT port [tcp/*] succeeded!"
	[[ ${stderr_lines[1]} =~ ^TLS\ TLSv1\.[23]\ [A-Z0-9_-]+$ ]]
	assert_equal "${stderr_lines[2]}" "TLS peer /CN=localhost $hash"
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^hello$'
}

@test "--tls-name sets the name checked in place of the destination" {
	tls_s_server server
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-name netpipe.test 127.0.0.1 \
	    "$SSL_PORT" <<<"by name"
	assert_equal "$stderr" ""
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^by name$'
}

# The refusals below give 30 s: under valgrind on a loaded machine, libtls
# setting up verification took past 10 s.
@test "--tls refuses a certificate for another name with exit 1" {
	tls_s_server server
	run -1 --separate-stderr timeout 30 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-name wrong.example 127.0.0.1 \
	    "$SSL_PORT" </dev/null
	assert_equal "$stderr" "netpipe: tls: handshake: name \`wrong.example' not present in server certificate"
	assert_equal "$output" ""
}

@test "--tls refuses an expired certificate with exit 1" {
	tls_s_server expired
	run -1 --separate-stderr timeout 30 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$SSL_PORT" </dev/null
	assert_equal "$stderr" "netpipe: tls: handshake: certificate verification failed: certificate has expired"
}

@test "--tls refuses a self-signed certificate with exit 1" {
	tls_s_server self
	run -1 --separate-stderr timeout 30 "${NP[@]}" --tls localhost \
	    "$SSL_PORT" </dev/null
	assert_equal "$stderr" "netpipe: tls: handshake: certificate verification failed: self-signed certificate"
}

@test "--tls trusts the system store by default, which does not know the test CA" {
	tls_s_server server
	run -1 --separate-stderr timeout 30 "${NP[@]}" --tls localhost \
	    "$SSL_PORT" </dev/null
	assert_equal "$stderr" "netpipe: tls: handshake: certificate verification failed: unable to get local issuer certificate"
}

@test "--tls-pin with the certificate's hash accepts a self-signed s_server" {
	local hash
	tls_s_server self
	hash=$(tls_hash self)
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -N --tls \
	    --tls-pin "$hash" localhost "$SSL_PORT" <<<"pinned"
	assert_equal "${stderr_lines[2]}" "TLS peer /CN=localhost $hash"
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^pinned$'
}

@test "--tls-pin in any case accepts socat's self-signed server" {
	local pin
	tls_socat_listen "cert=$TLS_DIR/self.pem,key=$TLS_DIR/self.key,verify=0" \
	    "CREATE:$BATS_TEST_TMPDIR/socat.out"
	pin=$(tls_hash self)
	pin=sha256:${pin#SHA256:}
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-pin "${pin^^}" 127.0.0.1 "$SOCAT_PORT" <<<"pinned"
	np_wait_exit "$SOCAT_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/socat.out")" "pinned"
}

@test "--tls-pin refuses a certificate with another hash, even one the CA signed" {
	local pin hash
	tls_s_server server
	pin=$(tls_hash self)
	pin=sha256:${pin#SHA256:}
	hash=$(tls_hash server)
	run -1 --separate-stderr timeout 10 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-pin "$pin" localhost \
	    "$SSL_PORT" </dev/null
	assert_equal "$stderr" "netpipe: tls: peer certificate $hash does not match --tls-pin $pin"
}

@test "--tls-noverify connects to a self-signed server with a warning" {
	tls_s_server self
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-noverify localhost "$SSL_PORT" <<<"unchecked"
	assert_equal "$stderr" "netpipe: warning: --tls-noverify: the server's certificate is not checked"
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^unchecked$'
}

@test "openssl s_client verifies a --tls -l server and data flows both ways" {
	local out=$BATS_TEST_TMPDIR/client.out pid
	np_fifo_held server.in
	NP_IN=$FIFO tls_listen -N 127.0.0.1 0
	timeout 10 "${S_CLIENT[@]}" -ign_eof -CAfile "$TLS_DIR/ca.pem" \
	    -connect "127.0.0.1:$NP_PORT" <<<"from client" >"$out" \
	    2>"$BATS_TEST_TMPDIR/client.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^from client$'
	# Answer only now, so that s_client has sent before the server ends.
	echo "from server" >"$FIFO"
	kill "$HOLDER_PID"
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" "from server"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	grep -Eq '^TLS TLSv1\.[23] ' "$BATS_TEST_TMPDIR/listen.err"
}

@test "a --tls client sends 64 MiB to socat OPENSSL-LISTEN intact, verifying 127.0.0.1" {
	local sum=$BATS_TEST_TMPDIR/socat.sha
	tls_random_file in 64M
	tls_socat_listen "cert=$TLS_DIR/server.pem,key=$TLS_DIR/server.key,verify=0" \
	    "SYSTEM:sha256sum >$sum"
	NP_TIMEOUT=$TLS_TIMEOUT np_io "$TLS_IN" /dev/null -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" 127.0.0.1 "$SOCAT_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	np_status "$SOCAT_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cut -d' ' -f1 "$sum")" "$TLS_IN_SHA"
}

@test "a --tls -l server sends 64 MiB to socat OPENSSL intact" {
	local sum=$BATS_TEST_TMPDIR/socat.sha
	tls_random_file in 64M
	NP_IN=$TLS_IN tls_listen -N 127.0.0.1 0
	run -0 timeout "$TLS_TIMEOUT" socat -u \
	    "OPENSSL:127.0.0.1:$NP_PORT,cafile=$TLS_DIR/ca.pem,commonname=localhost" \
	    "SYSTEM:sha256sum >$sum"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cut -d' ' -f1 "$sum")" "$TLS_IN_SHA"
}

@test "-N sends close_notify and still reads the whole reply" {
	local in out=$BATS_TEST_TMPDIR/reply
	in=$(np_random_file in 4M)
	export TLS_REPLY
	TLS_REPLY=$(np_random_file reply.in 4M)
	np_python_listen STREAM "$PY_TLS$PY_TLS_REPLY"
	np_io "$in" "$out" -N --tls --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(np_sha "$out")" "$(np_sha "$TLS_REPLY")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}

@test "the peer's close_notify ends the session with exit 0 while input is open" {
	np_fifo_held client.in
	np_python_listen STREAM "$PY_TLS$PY_TLS_BYE"
	np_io "$FIFO" "$BATS_TEST_TMPDIR/client.out" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(cat "$BATS_TEST_TMPDIR/client.out")" "bye"
	# netpipe answered with its own close_notify.
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^unwrapped$'
}

# What netpipe says of a TLS stream that ends without close_notify.
TLS_CUT_MSG="netpipe: tls: read: peer closed the connection without close_notify: the data may be truncated (unexpected eof)"

@test "a stream cut without close_notify is an error, exit 1, told in words a user can act on" {
	np_python_listen STREAM "$PY_TLS$PY_TLS_CUT"
	run -1 --separate-stderr timeout 10 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$PY_PORT" </dev/null
	assert_equal "$stderr" "$TLS_CUT_MSG"
}

# Talk all the time and read slowly, through the 16 KiB receive buffer
# np_python_listen sets, on one thread (an SSL object is not for two):
# print the sha256 of what came before close_notify, or "cut" and why.
PY_TLS_TALK='
c.setblocking(False)
chunk = b"noise\0" * 2048
h = hashlib.sha256()
talk = True
try:
    while True:
        time.sleep(0.005)
        try:
            if talk:
                c.send(chunk)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError:
            talk = False
        try:
            d = c.recv(16384)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        if not d:
            break
        h.update(d)
    print(h.hexdigest(), flush=True)
except OSError as e:
    print("cut:", e, flush=True)
# Answer the client'"'"'s close_notify with ours, as a TLS peer should: a
# bare close would be a cut for a client still dropping what we sent.
try:
    c.setblocking(True)
    c.settimeout(5)
    c.unwrap()
except (OSError, ValueError):
    pass
'

@test "--tls --send-only: a peer that keeps talking while it reads slowly gets every byte" {
	local in
	in=$(np_random_file in 4M)
	np_python_listen STREAM "import time$PY_TLS$PY_TLS_TALK" 16384
	np_sent_all "$in" --send-only --tls --tls-ca "$TLS_DIR/ca.pem" \
	    localhost "$PY_PORT"
}

@test "ncat --ssl as a server ends without close_notify: the data arrives, exit 1 with the words for it" {
	local data pid out=$BATS_TEST_TMPDIR/got
	data=$(np_random_file data 1M)
	ncat --ssl --ssl-cert "$TLS_DIR/server.pem" \
	    --ssl-key "$TLS_DIR/server.key" -l 127.0.0.1 0 <"$data" \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/ncat.err" 3>&- &
	pid=$!
	np_track "$pid"
	np_until 10 np_ss_port "$pid" || fail "ncat is not listening"
	np_io /dev/null "$out" --tls --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$NP_SS_PORT"
	assert_equal "$NP_STDERR" "$TLS_CUT_MSG"
	assert_equal "$NP_RC" 1
	assert_equal "$(np_sha "$out")" "$(np_sha "$data")"
}

@test "ncat --ssl as a client ends without close_notify: the listener gets the data, exit 1 with the words for it" {
	local data
	data=$(np_random_file data 1M)
	tls_listen 127.0.0.1 0
	run -0 timeout 10 ncat --ssl 127.0.0.1 "$NP_PORT" <"$data"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run grep '^netpipe: tls' "$BATS_TEST_TMPDIR/listen.err"
	assert_output "$TLS_CUT_MSG"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$data")"
}

@test "-v prints no transfer summary when the client's handshake failed" {
	np_python_listen STREAM '
import time
c, a = s.accept()
c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
time.sleep(20)
'
	run -1 --separate-stderr timeout 10 "${NP[@]}" -v --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$PY_PORT" </dev/null
	assert_equal "${#stderr_lines[@]}" 2
	[[ ${stderr_lines[0]} == "Connection to localhost $PY_PORT port "* ]]
	[[ ${stderr_lines[1]} == "netpipe: tls: handshake: "* ]]
}

@test "-v prints no transfer summary when the listener's handshake failed" {
	tls_listen 127.0.0.1 0
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <<<"plain text" \
	    >/dev/null || true
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run -0 cat "$BATS_TEST_TMPDIR/listen.err"
	assert_line -n 0 "Listening on 127.0.0.1 $NP_PORT"
	assert_line -n 1 --regexp '^Connection received on 127\.0\.0\.1 [0-9]+$'
	assert_line -n 2 --regexp '^netpipe: tls: handshake: '
	assert_equal "${#lines[@]}" 3
}

@test "what arrived before a cut without close_notify still reaches stdout" {
	local err=$BATS_TEST_TMPDIR/np.err out=$BATS_TEST_TMPDIR/cut.out rc
	np_python_listen STREAM "$PY_TLS$PY_TLS_CUT"
	# Nobody reads stdout, a pipe, until netpipe has met the cut: what it
	# has read by then but not written waits in its buffer.
	timeout 10 "${NP[@]}" --tls --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$PY_PORT" </dev/null 2>"$err" | {
		np_wait_for "$err" 'tls: ' 5 2>/dev/null || true
		cat >"$out"
	}
	rc=${PIPESTATUS[0]}
	assert_equal "$rc" 1
	assert_equal "$(stat -c %s "$out")" 100000
}

@test "--half-close over TLS keeps sending after the peer's close_notify" {
	local out=$BATS_TEST_TMPDIR/client.out pid
	np_fifo_held server.in
	NP_IN=$FIFO tls_listen --half-close 127.0.0.1 0
	timeout 10 "${NP[@]}" -N --tls --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$NP_PORT" <<<"question" >"$out" 2>"$BATS_TEST_TMPDIR/client.err" \
	    3>&- &
	pid=$!
	np_track "$pid"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^question$'
	# The client's close_notify is in; now the server's input goes on.
	timeout 5 bash -c 'echo answer >"$1"' _ "$FIFO"
	kill "$HOLDER_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	np_status "$pid"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$out")" "answer"
}

@test "a plain-text server gets a handshake error and exit 1 at once" {
	np_skip_timing_if_wrapped
	local t0 t1
	np_python_listen STREAM '
import time
c, a = s.accept()
c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
time.sleep(20)
'
	t0=$(np_now)
	run -1 --separate-stderr timeout 10 "${NP[@]}" -w 5 --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$PY_PORT" </dev/null
	t1=$(np_now)
	[[ $stderr == "netpipe: tls: handshake: "*"wrong version number" ]]
	((t1 - t0 < 3000))
}

@test "-w bounds the handshake with a server that never answers" {
	np_skip_timing_if_wrapped
	local t0 t1
	np_python_listen STREAM '
import time
c, a = s.accept()
time.sleep(20)
'
	t0=$(np_now)
	run -1 --separate-stderr timeout 10 "${NP[@]}" -w 1 --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$PY_PORT" </dev/null
	t1=$(np_now)
	assert_equal "$stderr" "netpipe: tls: handshake: Connection timed out"
	((t1 - t0 >= 900 && t1 - t0 < 3000))
}

@test "mutual TLS: a --tls-ca server refuses clients without a trusted certificate" {
	local err=$BATS_TEST_TMPDIR/listen.err
	tls_listen -k --tls-ca "$TLS_DIR/ca.pem" 127.0.0.1 0
	timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -connect "127.0.0.1:$NP_PORT" <<<"s_client without" \
	    >/dev/null 2>&1 || true
	np_wait_for "$err" 'tls: handshake: .*peer did not return a certificate'
	run -1 --separate-stderr timeout 10 "${NP[@]}" --tls \
	    --tls-ca "$TLS_DIR/ca.pem" localhost "$NP_PORT" <<<"netpipe without"
	[[ $stderr == "netpipe: tls: "*"certificate required"* ]]
	timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -cert "$TLS_DIR/self.pem" -key "$TLS_DIR/self.key" \
	    -connect "127.0.0.1:$NP_PORT" <<<"s_client self-signed" \
	    >/dev/null 2>&1 || true
	np_wait_for "$err" 'tls: handshake: .*certificate verify failed'
	assert_equal "$(grep -c 'tls: handshake: ' "$err")" 3
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" ""
}

@test "mutual TLS: clients with --tls-cert/--tls-key and s_client -cert are accepted" {
	local hash
	hash=$(tls_hash client)
	tls_listen -k --tls-ca "$TLS_DIR/ca.pem" 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-ca "$TLS_DIR/ca.pem" --tls-cert "$TLS_DIR/client.pem" \
	    --tls-key "$TLS_DIR/client.key" localhost "$NP_PORT" <<<"netpipe"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^netpipe$'
	run -0 timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -cert "$TLS_DIR/client.pem" -key "$TLS_DIR/client.key" \
	    -connect "127.0.0.1:$NP_PORT" <<<"s_client"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^s_client$'
	assert_equal "$(grep -c "^TLS peer /CN=netpipe client $hash$" \
	    "$BATS_TEST_TMPDIR/listen.err")" 2
}

@test "-k serves TLS clients in turn; a failed handshake costs only its connection" {
	tls_listen -k 127.0.0.1 0
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <<<"plain text" \
	    >/dev/null || true
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" 'tls: handshake: '
	run -0 timeout 10 "${S_CLIENT[@]}" -CAfile "$TLS_DIR/ca.pem" \
	    -connect "127.0.0.1:$NP_PORT" <<<"first"
	run -0 timeout 10 socat - \
	    "OPENSSL:127.0.0.1:$NP_PORT,cafile=$TLS_DIR/ca.pem,commonname=localhost" \
	    <<<"second"
	run -0 timeout 10 "${NP[@]}" -N --tls --tls-ca "$TLS_DIR/ca.pem" \
	    localhost "$NP_PORT" <<<"third"
	np_wait_for "$BATS_TEST_TMPDIR/out" '^third$'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'first\nsecond\nthird')"
	kill -0 "$NP_PID"
}

@test "--tls -l without --tls-cert and --tls-key is a usage error" {
	np_fails 2 "netpipe: --tls with -l needs --tls-cert and --tls-key" \
	    --tls -l --tls-cert "$TLS_DIR/server.pem" 127.0.0.1 0
}

@test "a --tls-cert that cannot be read fails before listening, exit 1" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -v --tls -l \
	    --tls-cert "$BATS_TEST_TMPDIR/none.pem" \
	    --tls-key "$TLS_DIR/server.key" 127.0.0.1 0 </dev/null
	assert_equal "$stderr" "netpipe: --tls-cert: $BATS_TEST_TMPDIR/none.pem: No such file or directory"
}

@test "--tls-noverify and --tls-pin cannot be used together" {
	np_fails 2 "netpipe: --tls-noverify and --tls-pin cannot be used together" \
	    --tls --tls-noverify --tls-pin "sha256:00" localhost 443
}

@test "--tls-alpn offers its protocols to openssl s_server -alpn; -v names the one chosen" {
	tls_s_server server -alpn foo,h2
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -N --tls \
	    --tls-alpn h2,http/1.1 --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$SSL_PORT" <<<"hello"
	assert_equal "${stderr_lines[3]}" "TLS ALPN h2"
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^hello$'
	grep -qx 'ALPN protocols advertised by the client: h2, http/1.1' \
	    "$BATS_TEST_TMPDIR/ssl.out"
}

@test "--tls-alpn to an s_server without ALPN negotiates none, says so with -v, and still connects" {
	tls_s_server server
	run -0 --separate-stderr timeout 10 "${NP[@]}" -v -N --tls \
	    --tls-alpn h2 --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$SSL_PORT" <<<"hello"
	assert_equal "${stderr_lines[3]}" "TLS ALPN none"
	np_wait_for "$BATS_TEST_TMPDIR/ssl.out" '^hello$'
}

@test "an s_server -alpn that shares none of --tls-alpn refuses the handshake: exit 1 with its alert" {
	tls_s_server server -alpn foo
	run -1 --separate-stderr timeout 10 "${NP[@]}" -N --tls \
	    --tls-alpn h2 --tls-ca "$TLS_DIR/ca.pem" localhost \
	    "$SSL_PORT" <<<"hello"
	assert_output ""
	[[ $stderr == "netpipe: tls: handshake: "*"no application protocol" ]]
}

@test "a --tls -l server with --tls-alpn picks its first protocol that openssl s_client -alpn offers" {
	tls_listen --tls-alpn h2,http/1.1 127.0.0.1 0
	run -0 timeout 10 openssl s_client -alpn http/1.1,h2,foo \
	    -CAfile "$TLS_DIR/ca.pem" -verify_return_error \
	    -connect "127.0.0.1:$NP_PORT" </dev/null
	assert_line "ALPN protocol: h2"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^TLS ALPN h2$'
}

@test "the client sends SNI with the destination name or --tls-name, and none for an address" {
	np_python_listen STREAM '
import os, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["TLS_DIR"] + "/server.pem",
    os.environ["TLS_DIR"] + "/server.key")
def sni(sock, name, c):
    print("SNI", name, flush=True)
ctx.sni_callback = sni
for _ in range(3):
    c, a = s.accept()
    c = ctx.wrap_socket(c, server_side=True)
    c.recv(100)
    c.unwrap()
    c.close()
'
	run -0 timeout 10 "${NP[@]}" -N --tls --tls-ca "$TLS_DIR/ca.pem" \
	    localhost "$PY_PORT" <<<"one"
	run -0 timeout 10 "${NP[@]}" -N --tls --tls-ca "$TLS_DIR/ca.pem" \
	    127.0.0.1 "$PY_PORT" <<<"two"
	run -0 timeout 10 "${NP[@]}" -N --tls --tls-ca "$TLS_DIR/ca.pem" \
	    --tls-name netpipe.test 127.0.0.1 "$PY_PORT" <<<"three"
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "SNI localhost
SNI None
SNI netpipe.test"
}

@test "--tls-alpn needs --tls, and takes only names of 1 to 255 bytes" {
	np_fails 2 'netpipe: --tls-alpn requires --tls' --tls-alpn h2 127.0.0.1 9
	np_fails 2 'netpipe: --tls-alpn: "h2,,x" is invalid' --tls \
	    --tls-alpn h2,,x 127.0.0.1 9
	np_fails 2 'netpipe: --tls-alpn: "h2," is invalid' --tls \
	    --tls-alpn h2, 127.0.0.1 9
	np_fails 2 "netpipe: --tls-alpn: \"$(printf 'x%.0s' {1..256})\" is invalid" \
	    --tls --tls-alpn "$(printf 'x%.0s' {1..256})" 127.0.0.1 9
}
