# Loaded by every bats file: the binary under test, bounded waits, listeners
# on kernel-chosen ports, and teardown that kills what a test started.

bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

# Debian's python3 starts in 40 ms; a pyenv shim ahead of it in PATH
# costs 100 ms more per peer, which adds up over the suite.
if [ -x /usr/bin/python3 ]; then
	PATH=/usr/bin:$PATH
fi

NETPIPE=${NETPIPE:-$BATS_TEST_DIRNAME/../netpipe}
# NETPIPE_WRAP lets `make valgrind` run every netpipe under a tool.
NP=(${NETPIPE_WRAP:-} "$NETPIPE")
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

NP_PIDS=()

# Run netpipe with the optional wrapper; use it in place of the binary.
np() {
	"${NP[@]}" "$@"
}

# Remember a background process so teardown kills it.
np_track() {
	NP_PIDS+=("$1")
}

# Valgrind (NETPIPE_WRAP) runs netpipe some 30 times slower, and CI runs
# four tests at once on two cores: a bound generous for netpipe can be
# short for it.  A test whose bound must hold there too writes it as
# $((SECONDS * NP_SLOW)), three times longer under NETPIPE_WRAP; a bound
# only stops a hang.
NP_SLOW=1
[ -z "${NETPIPE_WRAP:-}" ] || NP_SLOW=3

# np_until SECONDS CMD...: run CMD every 20 ms until it succeeds, for at
# most SECONDS; 0 when it did, 1 when time ran out.  This is the suite's
# one polling step: every wait is a condition with a bound.
np_until() {
	local polls=$(($1 * 50)) i
	shift
	for ((i = 0; i < polls; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}

# np_lines_match FILE REGEX COUNT: FILE has COUNT lines matching REGEX.
np_lines_match() {
	[ -f "$1" ] && (($(grep -Ec -- "$2" "$1") >= $3))
}

# np_wait_for FILE REGEX [LIMIT [COUNT]]: wait (bounded, default 10 s)
# until FILE contains a line matching REGEX, or COUNT such lines.
np_wait_for() {
	local file=$1 regex=$2 limit=${3:-10} count=${4:-1}
	np_until "$limit" np_lines_match "$file" "$regex" "$count" && return
	echo "timed out waiting for $count of /$regex/ in $file" >&2
	[ -f "$file" ] && cat "$file" >&2
	return 1
}

np_gone() {
	! kill -0 "$1" 2>/dev/null
}

# Wait (bounded) until process PID has exited.
np_wait_exit() {
	local pid=$1 limit=${2:-10}
	np_until "$limit" np_gone "$pid" && return
	echo "process $pid still running after ${limit}s" >&2
	return 1
}

np_gone_or_past() {
	np_gone "$1" || (($(np_now) >= $2))
}

# np_alive_for PID MS: fail unless PID is still running after MS
# milliseconds, looking every 20 ms (a process that must not exit).
np_alive_for() {
	local end=$(($(np_now) + $2))
	np_until $(($2 / 1000 + 2)) np_gone_or_past "$1" "$end"
	kill -0 "$1"
}

# np_steady CMD...: CMD prints what it printed the last time (NP_LAST), for
# the 15th time running (NP_SAME); np_until polls it.
np_steady() {
	local v
	v=$("$@")
	if [ "$v" = "$NP_LAST" ]; then
		NP_SAME=$((NP_SAME + 1))
	else
		NP_SAME=0
		NP_LAST=$v
	fi
	((NP_SAME >= 15))
}

# np_wait_stalled CMD...: wait (bounded, 10 s) until the number CMD
# prints stays the same for 0.3 s; set NP_STALLED to it.
np_wait_stalled() {
	NP_LAST=-1 NP_SAME=0
	np_until 10 np_steady "$@"
	NP_STALLED=$NP_LAST
	((NP_SAME >= 15)) || { echo "still moving: $NP_LAST" >&2; return 1; }
}

# np_listen ARGS...: start `netpipe -v -l ARGS` in the background with
# stdin from $NP_IN (default /dev/null) and stdout to $NP_OUT (default
# $BATS_TEST_TMPDIR/out), wait for its "Listening on"/"Bound on" line,
# and set NP_PID and NP_PORT (empty for Unix paths).
np_listen() {
	local in=${NP_IN:-/dev/null} out=${NP_OUT:-$BATS_TEST_TMPDIR/out}
	local err=${NP_ERR:-$BATS_TEST_TMPDIR/listen.err}
	: >"$err"
	"${NP[@]}" -v -l "$@" <"$in" >"$out" 2>"$err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$err" '^(Listening|Bound) on ' || return 1
	NP_PORT=$(sed -nE 's/^(Listening|Bound) on .* ([0-9]+)$/\2/p' "$err" |
	    head -n 1)
}

# Start a python3 TCP/UDP listener on 127.0.0.1 port 0 running SCRIPT
# (python code that has `s`, the bound socket) and set PY_PID and PY_PORT.
# SCRIPT's stdout goes to $BATS_TEST_TMPDIR/py.out.  A third argument
# sets SO_RCVBUF before listen(2), so that connections are born with it
# and the window they offer fits it from the first segment.
np_python_listen() {
	local kind=$1 script=$2 rcvbuf=${3:-0}
	local portfile=$BATS_TEST_TMPDIR/py.port
	rm -f "$portfile"
	python3 -c "
import socket, sys, os
s = socket.socket(socket.AF_INET, socket.SOCK_$kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0))
if $rcvbuf:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, $rcvbuf)
if socket.SOCK_$kind == socket.SOCK_STREAM:
    s.listen(16)
with open('$portfile.tmp', 'w') as f:
    f.write(str(s.getsockname()[1]))
os.rename('$portfile.tmp', '$portfile')
$script
" >"$BATS_TEST_TMPDIR/py.out" 2>"$BATS_TEST_TMPDIR/py.err" 3>&- &
	PY_PID=$!
	np_track "$PY_PID"
	np_wait_for "$portfile" '^[0-9]+$' || return 1
	PY_PORT=$(cat "$portfile")
}

# python3 peers shared by several test files, for np_python_listen (or,
# for PY_ECHO, np_python_unix), each with `s` bound and listening.

# Echo everything back until EOF, then close.
PY_ECHO='
c, a = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
c.close()
'

# Accept one connection; print each chunk it reads and the gaps between.
PY_CHUNKS='
import time
c, _ = s.accept()
chunks = []
while True:
    d = c.recv(65536)
    if not d:
        break
    chunks.append((time.monotonic(), d))
print(" ".join(d.hex() for t, d in chunks))
for i in range(1, len(chunks)):
    print("%.3f" % (chunks[i][0] - chunks[i - 1][0]))
sys.stdout.flush()
c.close()
'

# Listen with a backlog of 0 and fill the accept queue, so that further
# SYNs are dropped and a connect attempt can only time out.
PY_BLACKHOLE='
import time
s.listen(0)
fill = []
for i in range(3):
    f = socket.socket()
    # The first one completes and fills the queue; the rest hang in SYN.
    f.setblocking(i == 0)
    try:
        f.connect(("127.0.0.1", s.getsockname()[1]))
    except BlockingIOError:
        pass
    fill.append(f)
print("full", flush=True)
time.sleep(30)
'

# Send the file NP_PY_FILE, then close (a peer gone away early is fine).
PY_SEND_FILE='
import os
c, a = s.accept()
try:
    with open(os.environ["NP_PY_FILE"], "rb") as f:
        c.sendall(f.read())
except OSError:
    pass
c.close()
'

# np_queued PORT PID CODE...: with process PID (a -k listener) stopped,
# open one connection to PORT per python3 statement CODE (it sends on
# socket c), half-close each, then let PID go on and wait (bounded) for
# it to close each in turn.  Every peer's data and end are queued in the
# kernel before the listener accepts the first: what a busy listener sees.
np_queued() {
	timeout 20 python3 -c '
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def state():
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]
os.kill(pid, signal.SIGSTOP)
try:
    for i in range(500):
        if state() in "Tt":
            break
        time.sleep(0.01)
    cs = []
    for code in sys.argv[3:]:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        exec(code)
        c.shutdown(socket.SHUT_WR)
        cs.append(c)
finally:
    os.kill(pid, signal.SIGCONT)
for c in cs:
    while c.recv(4096):
        pass
    c.close()
' "$@"
}

# Make a file of SIZE bytes of random data (with NUL bytes) and print its path.
np_random_file() {
	local name=$1 size=$2
	head -c "$size" /dev/urandom >"$BATS_TEST_TMPDIR/$name"
	echo "$BATS_TEST_TMPDIR/$name"
}

np_sha() {
	sha256sum "$1" | cut -d' ' -f1
}

np_cleanup() {
	local pid
	for pid in "${NP_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${NP_PIDS[@]}"; do
		np_wait_exit "$pid" 5 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done
	NP_PIDS=()
}

teardown() {
	np_cleanup
}

# --- tcp.bats, eof.bats, unix.bats, integrity.bats ---

# np_nc_listen ARGS...: start `nc.openbsd -v -l ARGS` in the background
# with stdin from $NC_IN (default /dev/null) and stdout to $NC_OUT
# (default $BATS_TEST_TMPDIR/nc.out), wait for its "Listening on" or
# "Bound on" line, and set NC_PID and NC_PORT (the last field).
np_nc_listen() {
	local in=${NC_IN:-/dev/null} out=${NC_OUT:-$BATS_TEST_TMPDIR/nc.out}
	local err=$BATS_TEST_TMPDIR/nc.err
	: >"$err"
	nc.openbsd -v -l "$@" <"$in" >"$out" 2>"$err" 3>&- &
	NC_PID=$!
	np_track "$NC_PID"
	np_wait_for "$err" '^(Listening|Bound) on ' || return 1
	NC_PORT=$(sed -nE 's/^(Listening|Bound) on .* ([0-9]+)$/\2/p' "$err" |
	    head -n 1)
}

# np_python_unix KIND PATH SCRIPT: a python3 AF_UNIX socket of SOCK_KIND
# bound to PATH ("@name" is the abstract namespace), listening when KIND is
# STREAM, then running SCRIPT (python code that has `s`).  Sets PY_PID;
# SCRIPT's stdout goes to $BATS_TEST_TMPDIR/py.out.
np_python_unix() {
	local kind=$1 path=$2 script=$3 ready=$BATS_TEST_TMPDIR/py.ready
	rm -f "$ready"
	NP_PY_PATH=$path python3 -c "
import socket, sys, os
p = os.environ['NP_PY_PATH']
addr = '\0' + p[1:] if p.startswith('@') else p
s = socket.socket(socket.AF_UNIX, socket.SOCK_$kind)
s.bind(addr)
if socket.SOCK_$kind == socket.SOCK_STREAM:
    s.listen(16)
with open('$ready', 'w') as f:
    f.write('ready\n')
$script
" >"$BATS_TEST_TMPDIR/py.out" 2>"$BATS_TEST_TMPDIR/py.err" 3>&- &
	PY_PID=$!
	np_track "$PY_PID"
	np_wait_for "$ready" '^ready$'
}

# np_closed_port: hold a TCP port on 127.0.0.1 with a bound socket that
# does not listen, so a connection to it is refused and no other test can
# take it.  Sets CLOSED_PORT.
np_closed_port() {
	local portfile=$BATS_TEST_TMPDIR/closed.port
	rm -f "$portfile"
	python3 -c "
import socket, os, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
with open('$portfile.tmp', 'w') as f:
    f.write(str(s.getsockname()[1]))
os.rename('$portfile.tmp', '$portfile')
time.sleep(60)
" 3>&- &
	np_track $!
	np_wait_for "$portfile" '^[0-9]+$' || return 1
	CLOSED_PORT=$(cat "$portfile")
}

# np_free_port: print a TCP port on 127.0.0.1 that was free a moment ago.
# Racy by nature; use it only where a test must name its own source port.
np_free_port() {
	python3 -c "
import socket
s = socket.socket()
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])
s.close()"
}

# np_service PORT [PROTO]: the service name of PORT, or "*" (as in
# `Connection to ... port [tcp/SERVICE] succeeded!`).
np_service() {
	python3 -c "
import socket, sys
try:
    print(socket.getservbyport(int(sys.argv[1]), sys.argv[2]))
except OSError:
    print('*')" "$1" "${2:-tcp}"
}

# np_offline CMD...: run CMD in a mount and network namespace of its own,
# where only lo is up and /etc/resolv.conf (a private copy, bind-mounted)
# names 127.0.0.1, where nothing answers.  A test that needs a name to
# fail to resolve runs the lookup through this, so that no query leaves
# the machine; test/lint-tests checks that every such name does.  Call
# np_need_offline first in the test itself: a skip cannot come from the
# subshell of $(...) or `run`.  Without root it maps the user to root in
# a user namespace (unshare -r), where that is allowed.
np_offline() {
	local conf=$BATS_TEST_TMPDIR/np_offline.resolv.conf map=()
	((EUID == 0)) || map=(-r)
	echo 'nameserver 127.0.0.1' >"$conf"
	unshare "${map[@]}" -mn sh -c 'ip link set lo up && mount --bind "$1" \
	    /etc/resolv.conf && shift && exec "$@"' np_offline "$conf" "$@"
}

# np_need_offline: skip the test when np_offline cannot make its
# namespaces here (it needs root, or unprivileged user namespaces).
np_need_offline() {
	np_offline true 2>/dev/null ||
	    skip "cannot make a mount and network namespace (unshare -mn)"
}

# Skip the test when ::1 cannot be bound.
np_need_ipv6() {
	python3 -c "
import socket
socket.socket(socket.AF_INET6).bind(('::1', 0))" 2>/dev/null ||
	    skip "IPv6 loopback ::1 cannot be bound here"
}

# np_status PID [LIMIT]: wait (bounded) for background job PID and set
# NP_STATUS to its exit status (128+n when a signal ended it).
np_status() {
	local pid=$1
	np_wait_exit "$pid" "${2:-10}" || return 1
	NP_STATUS=0
	wait "$pid" || NP_STATUS=$?
}

# "${NP_SIGDFL[@]}" CMD...: exec CMD with SIGINT and SIGQUIT back at their
# defaults (a non-interactive shell starts background jobs with them
# ignored).  An array, not a function, so that `... &` gives CMD's own PID.
NP_SIGDFL=(python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])')

# np_rss_kb PID: the resident set size of PID in KiB.
np_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# np_ss_port PID: true once process PID listens on a TCP port, which goes
# to NP_SS_PORT (for peers that cannot print the port they got).
np_ss_port() {
	NP_SS_PORT=$(ss -Htlnp 2>/dev/null | awk -v p="pid=$1," \
	    'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$NP_SS_PORT" ]
}

# np_rchar PID: the bytes PID has read so far (/proc/PID/io).
np_rchar() {
	awk '/^rchar:/ { print $2 }' "/proc/$1/io"
}

# np_wait_socket PATH: wait (bounded) until PATH is a socket file.
np_wait_socket() {
	local path=$1
	np_until 10 test -S "$path" && return
	echo "timed out waiting for socket $path" >&2
	return 1
}

# np_now: the time in milliseconds, for checking how long something took.
np_now() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# np_io IN OUT ARGS...: run `timeout 10 netpipe ARGS` (NP_TIMEOUT overrides
# the 10) with stdin from IN
# and stdout to OUT (binary-safe, unlike `run`); set NP_RC to its exit
# status and NP_STDERR to what it wrote on stderr.
np_io() {
	local in=$1 out=$2
	shift 2
	NP_RC=0
	timeout "${NP_TIMEOUT:-10}" "${NP[@]}" "$@" <"$in" >"$out" \
	    2>"$BATS_TEST_TMPDIR/np.err" || NP_RC=$?
	NP_STDERR=$(cat "$BATS_TEST_TMPDIR/np.err")
}

# np_sent_all IN ARGS...: netpipe ARGS with IN on stdin ends well (within
# 20 s), and the python3 peer of np_python_listen printed IN's sha256.
np_sent_all() {
	local in=$1
	shift
	NP_TIMEOUT=20 np_io "$in" "$BATS_TEST_TMPDIR/client.out" "$@"
	assert_equal "$NP_STDERR" ""
	assert_equal "$NP_RC" 0
	np_wait_for "$BATS_TEST_TMPDIR/py.out" '^(cut|[0-9a-f]{64}$)'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "$(np_sha "$in")"
}

# --- udp.bats, options.bats, errors.bats, scan.bats ---

# np_hold_ports PATTERN [STREAM|DGRAM]: hold consecutive ports on
# 127.0.0.1, one per character of PATTERN, so that no other test can take
# them.  "o" is open (TCP: listening, every connection accepted and read
# to its end; UDP: bound and reading), "c" is closed (TCP: bound but not
# listening, so a connect is refused; UDP: bound and connected to another
# peer, so a datagram from anyone else gets ICMP port unreachable).  Sets
# HOLD_PID and HOLD_PORT (the first port).  $BATS_TEST_TMPDIR/hold.log
# gets "accept PORT SECONDS", "closed PORT NBYTES" and "dgram PORT NBYTES"
# lines as peers come and go.
np_hold_ports() {
	local first=$BATS_TEST_TMPDIR/hold.port log=$BATS_TEST_TMPDIR/hold.log
	rm -f "$first"
	: >"$log"
	python3 -c '
import socket, sys, os, threading, time
pattern, kind, first, log = sys.argv[1:5]
typ = socket.SOCK_STREAM if kind == "STREAM" else socket.SOCK_DGRAM
logf = open(log, "a")
lock = threading.Lock()

def note(*words):
    with lock:
        logf.write(" ".join(str(w) for w in words) + "\n")
        logf.flush()

def reader(c, port):
    n = 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
    except OSError:
        pass
    note("closed", port, n)

def acceptor(s, port):
    while True:
        c, _ = s.accept()
        note("accept", port, "%.3f" % time.monotonic())
        threading.Thread(target=reader, args=(c, port), daemon=True).start()

def dgrams(s, port):
    while True:
        d = s.recv(65536)
        note("dgram", port, len(d))

while True:
    base = socket.socket(socket.AF_INET, typ)
    base.bind(("127.0.0.1", 0))
    p0 = base.getsockname()[1]
    socks = [base]
    ok = p0 + len(pattern) - 1 <= 65535
    for i in range(1, len(pattern)):
        if not ok:
            break
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.bind(("127.0.0.1", p0 + i))
        except OSError:
            s.close()
            ok = False
            break
        socks.append(s)
    if ok:
        break
    for s in socks:
        s.close()

for i, (c, s) in enumerate(zip(pattern, socks)):
    if c == "o" and typ == socket.SOCK_STREAM:
        s.listen(64)
        target = acceptor
    elif c == "o":
        target = dgrams
    elif typ == socket.SOCK_DGRAM:
        s.connect(s.getsockname())
        continue
    else:
        continue
    threading.Thread(target=target, args=(s, p0 + i), daemon=True).start()

with open(first + ".tmp", "w") as f:
    f.write(str(p0))
os.rename(first + ".tmp", first)
threading.Event().wait(60)
' "$1" "${2:-STREAM}" "$first" "$log" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/hold.err" 3>&- &
	HOLD_PID=$!
	np_track "$HOLD_PID"
	# A run of 1000 free ports can take retries while parallel tests
	# take ports of their own: a longer bound than most waits.
	np_wait_for "$first" '^[0-9]+$' 30 || return 1
	HOLD_PORT=$(cat "$first")
}

# np_fails STATUS MESSAGE ARGS...: run netpipe ARGS (stdin /dev/null) and
# assert exit STATUS, MESSAGE as the first line of stderr, nothing on
# stdout and, for a usage error (2), exactly the two lines of the short
# usage after it, as GNU tools print them.
np_fails() {
	local want=$1 msg=$2
	shift 2
	run -"$want" --separate-stderr timeout 10 "${NP[@]}" "$@" </dev/null
	assert_equal "${stderr_lines[0]-}" "$msg"
	assert_equal "$output" ""
	if [ "$want" = 2 ]; then
		assert_equal "${stderr_lines[1]-}" \
		    "usage: netpipe [options] destination port"
		assert_equal "${stderr_lines[2]-}" \
		    "Try 'netpipe --help' for more information."
		assert_equal "${#stderr_lines[@]}" 3
	fi
}

# np_nc_words ARGS...: what nc.openbsd prints on stderr for ARGS (stdin
# /dev/null), its "nc.openbsd: " prefix taken off; NP_NC_RC gets its exit
# status.  netpipe keeps these words after its own prefix.
np_nc_words() {
	local err=$BATS_TEST_TMPDIR/nc.words
	NP_NC_RC=0
	timeout 10 nc.openbsd "$@" </dev/null >/dev/null 2>"$err" ||
	    NP_NC_RC=$?
	sed 's/^nc\.openbsd: //' "$err"
}

# np_hex STRING: the bytes of `printf %b STRING`, as lowercase hex.
np_hex() {
	printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'
	echo
}

# np_wait_size FILE BYTES [LIMIT]: wait (bounded, default 10 s) until FILE
# holds at least BYTES bytes.
np_size_at_least() {
	[ -f "$1" ] && [ "$(stat -c %s "$1")" -ge "$2" ]
}

np_wait_size() {
	local file=$1 want=$2 limit=${3:-10}
	np_until "$limit" np_size_at_least "$file" "$want" && return
	echo "timed out waiting for $want bytes in $file" >&2
	return 1
}

# np_scan_ok PORT [PROTO]: the line `-z -v` prints for an open PORT on
# 127.0.0.1.
np_scan_ok() {
	local proto=${2:-tcp} svc
	# getent asks getservbyport(3) too, without a python3 start-up.
	svc=$(getent services "$1/$proto" | awk '{ print $1 }')
	echo "Connection to 127.0.0.1 $1 port [$proto/${svc:-*}] succeeded!"
}

# --- eof.bats, unix.bats (np_fifo_held); all four (np_listen_exec) ---

# NP_HOLD: a command that does nothing until it is killed, to hold open
# the descriptors it is started with.  It has no timer that could run out
# in a slow run; teardown kills it by PID (np_track).  Run it as a simple
# command ("${NP_HOLD[@]}" >file &) so that $! is the holder itself.
# Not `tail -f /dev/null`: GNU tail polls its stdout and exits about a
# second after a FIFO's reader has gone, so a holder could vanish under
# a test that checks it is still there.  sleep(1) only waits.
NP_HOLD=(sleep infinity)

# np_fifo_held NAME: make the fifo $BATS_TEST_TMPDIR/NAME, held open for
# writing by a tracked background process so that a reader sees no EOF
# until HOLDER_PID is killed.  Sets FIFO and HOLDER_PID.
np_fifo_held() {
	FIFO=$BATS_TEST_TMPDIR/$1
	mkfifo "$FIFO"
	"${NP_HOLD[@]}" >"$FIFO" 3>&- &
	HOLDER_PID=$!
	np_track "$HOLDER_PID"
}

# np_listen_exec ARGS...: as np_listen, but NP_PID is netpipe's own PID.
# (np_listen backgrounds the np function, so its NP_PID is a bash subshell:
# a signal sent to it never reaches netpipe.)  It runs netpipe
# with SIGINT at its default (through NP_SIGDFL) when NP_DFL_INT is set.
np_listen_exec() {
	local in=${NP_IN:-/dev/null} out=${NP_OUT:-$BATS_TEST_TMPDIR/out}
	local err=${NP_ERR:-$BATS_TEST_TMPDIR/listen.err} pre=()
	[ -n "${NP_DFL_INT:-}" ] && pre=("${NP_SIGDFL[@]}")
	: >"$err"
	"${pre[@]}" "${NP[@]}" -v -l "$@" <"$in" >"$out" 2>"$err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$err" '^(Listening|Bound) on ' || return 1
	NP_PORT=$(sed -nE 's/^(Listening|Bound) on .* ([0-9]+)$/\2/p' "$err" |
	    head -n 1)
}

# --- integrity.bats ---

# np_nul_file NAME SIZE_MIB: a file of runs of NUL bytes and random bytes
# (1 MiB each, alternating); print its path.
np_nul_file() {
	local path=$BATS_TEST_TMPDIR/$1 i
	for ((i = 0; i < $2; i++)); do
		if ((i % 2 == 0)); then
			head -c 1M /dev/zero
		else
			head -c 1M /dev/urandom
		fi
	done >"$path"
	echo "$path"
}

# --- eof.bats ---

# np_assert_idle PID: fail if PID uses more than 0.1 s of CPU time during
# half a second in which it has nothing to do (a busy loop).
np_assert_idle() {
	local pid=$1 t0 t1 hz
	hz=$(getconf CLK_TCK)
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	np_alive_for "$pid" 500
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	if (((t1 - t0) * 10 > hz)); then
		echo "process $pid used $((t1 - t0)) of $hz ticks/s while idle" >&2
		return 1
	fi
}

# --- sockopt.bats, seqpacket.bats, multicast.bats ---

# np_sockopts PID WHICH SPEC...: read socket options of process PID
# straight from the kernel, independently of netpipe: python3 takes a
# duplicate of the socket (pidfd_getfd(2)) and calls getsockopt with the
# constants of its own socket module.  WHICH is "listening", "connected"
# or "any" (the first socket).  Each SPEC is LEVEL:OPTION[:TYPE], e.g.
# SOL_SOCKET:SO_RCVBUF or IPPROTO_TCP:TCP_CONGESTION:str; TYPE is int (the
# default), str, or linger ("ONOFF SECONDS").  Sets NP_SOCKOPTS to one
# value per SPEC, one per line; skips the test when the kernel does not
# let us take the socket.
np_sockopts() {
	local pid=$1 which=$2 rc=0
	shift 2
	NP_SOCKOPTS=$(python3 -c '
import ctypes, errno, os, socket, struct, sys
pid, which, specs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
# Names older python3 lacks, from <linux/tcp.h> and <linux/in*.h>.
extra = {"TCP_FASTOPEN_CONNECT": 30, "IP_MINTTL": 21,
    "IPV6_MINHOPCOUNT": 73}
def const(name):
    return getattr(socket, name) if hasattr(socket, name) else extra[name]
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
found = None
for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
    try:
        if not os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
            continue
    except OSError:
        continue
    n = libc.syscall(438, pidfd, int(fd), 0)    # pidfd_getfd
    if n < 0:
        if ctypes.get_errno() in (errno.EPERM, errno.EACCES):
            sys.exit(77)
        continue
    s = socket.socket(fileno=n)
    listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if which == "any" or (which == "listening") == bool(listening):
        found = s
        break
    s.close()
if found is None:
    sys.exit("no %s socket in process %d" % (which, pid))
for spec in specs:
    level, name, kind = (spec.split(":") + ["int"])[:3]
    level, name = const(level), const(name)
    if kind == "str":
        v = found.getsockopt(level, name, 64)
        print(v.split(b"\0")[0].decode())
    elif kind == "linger":
        print("%d %d" % struct.unpack("ii", found.getsockopt(level, name, 8)))
    else:
        print(found.getsockopt(level, name))
' "$pid" "$which" "$@") || rc=$?
	if [ "$rc" = 77 ]; then
		skip "pidfd_getfd(2) is not allowed here (needs ptrace rights)"
	fi
	return "$rc"
}

# --- exec.bats, acl.bats, broker.bats, load.bats ---

# np_rss_within PID BASE_KB KB: fail unless PID's resident set is less than
# KB above BASE_KB.  A sanitizer or valgrind build is not measured: its
# shadow memory and quarantine of freed blocks grow by design.
np_rss_within() {
	local rss
	[[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]] || return 0
	rss=$(np_rss_kb "$1")
	if ((rss - $2 >= $3)); then
		echo "RSS of $1 grew from $2 to $rss KiB (limit +$3)" >&2
		return 1
	fi
}

# A test whose assertion is a time bound (a -q or -w deadline, a --rate)
# means nothing when valgrind makes every start take a second or more.
np_skip_timing_if_wrapped() {
	[ -z "${NETPIPE_WRAP:-}" ] ||
	    skip "time bounds do not hold under NETPIPE_WRAP ($NETPIPE_WRAP)"
}

# A python3 peer that greets with GREETING (a Python bytes literal body),
# half-closes, and prints in hex everything it then receives.
np_python_greeter() {
	np_python_listen STREAM "
c, _ = s.accept()
c.sendall(b\"$1\")
c.shutdown(socket.SHUT_WR)
data = b''
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
print(data.hex(), flush=True)
"
}

# --- tls.bats, tlsbroker.bats ---

# tls_pki: make the test PKI once for a file, from its setup_file, in
# $TLS_DIR: a CA, a server certificate for localhost, netpipe.test and
# 127.0.0.1, an expired one (openssl ca, since x509 -days cannot go back in
# time), a self-signed one, and a client certificate for mutual TLS.
# P-256 keys: quick to make.  Never committed.
tls_pki() {
	export TLS_DIR=$BATS_FILE_TMPDIR/pki
	mkdir -p "$TLS_DIR"
	(cd "$TLS_DIR" && tls_make_pki)
}

# tls_make_pki: make the files of tls_pki in the current directory.
tls_make_pki() {
	local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes) f

	openssl req -x509 "${key[@]}" -keyout ca.key -out ca.pem -days 2 \
	    -subj "/CN=netpipe test CA" 2>/dev/null
	printf '%s\n' 'subjectAltName=DNS:localhost,DNS:netpipe.test,IP:127.0.0.1' \
	    'extendedKeyUsage=serverAuth' >server.ext
	printf '%s\n' 'extendedKeyUsage=clientAuth' >client.ext
	openssl req "${key[@]}" -keyout server.key -out server.csr \
	    -subj "/CN=localhost" 2>/dev/null
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 2 -extfile server.ext -out server.pem \
	    2>/dev/null
	openssl req "${key[@]}" -keyout client.key -out client.csr \
	    -subj "/CN=netpipe client" 2>/dev/null
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 2 -extfile client.ext -out client.pem \
	    2>/dev/null
	openssl req -x509 "${key[@]}" -keyout self.key -out self.pem -days 2 \
	    -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
	openssl req "${key[@]}" -keyout expired.key -out expired.csr \
	    -subj "/CN=localhost" 2>/dev/null
	printf '%s\n' '[ca]' 'default_ca = np' '[np]' 'database = index.txt' \
	    'new_certs_dir = .' 'serial = serial' 'default_md = sha256' \
	    'policy = np_policy' 'unique_subject = no' '[np_policy]' \
	    'commonName = supplied' >ca.cnf
	: >index.txt
	echo 1000 >serial
	openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key \
	    -in expired.csr -out expired.pem -notext -extfile server.ext \
	    -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
	for f in ca server client self expired; do
		[ -s "$f.pem" ] || return 1
	done
}

# tls_listen ARGS...: np_listen_exec with --tls and the server certificate.
tls_listen() {
	np_listen_exec --tls --tls-cert "$TLS_DIR/server.pem" \
	    --tls-key "$TLS_DIR/server.key" "$@"
}

# s_client verifying netpipe's certificate against the test CA, sending
# its stdin and shutting down (close_notify) at its end.
S_CLIENT=(openssl s_client -quiet -no_ign_eof -verify_return_error
    -verify_hostname localhost)

# A backend that reads to EOF, then sends back the sha256 of what it read
# and the file in sys.argv[1], then closes: the client's half-close must
# reach it, and its reply come back after it.
PY_SHA_THEN_SEND='
import hashlib
c, a = s.accept()
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
c.sendall(h.hexdigest().encode() + b"\n" + open(sys.argv[1], "rb").read())
c.close()
'

# np_py_listen KIND SCRIPT ARG: np_python_listen with an argument for the
# script (sys.argv[1]); KIND is STREAM or DGRAM.  Sets PY_PID and PY_PORT.
np_py_listen() {
	local portfile=$BATS_TEST_TMPDIR/py.port
	rm -f "$portfile"
	python3 -c "
import socket, sys, os
s = socket.socket(socket.AF_INET, socket.SOCK_$1)
s.bind(('127.0.0.1', 0))
if socket.SOCK_$1 == socket.SOCK_STREAM:
    s.listen(64)
with open('$portfile.tmp', 'w') as f:
    f.write(str(s.getsockname()[1]))
os.rename('$portfile.tmp', '$portfile')
$2
" "$3" >"$BATS_TEST_TMPDIR/py.out" 2>"$BATS_TEST_TMPDIR/py.err" 3>&- &
	PY_PID=$!
	np_track "$PY_PID"
	np_wait_for "$portfile" '^[0-9]+$' || return 1
	PY_PORT=$(cat "$portfile")
}
