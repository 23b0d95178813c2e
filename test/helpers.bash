# Loaded by every bats file: the binary under test, bounded waits, listeners
# on kernel-chosen ports, and teardown that kills what a test started.

bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

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

# Wait (bounded, default 10 s) until FILE contains a line matching REGEX.
np_wait_for() {
	local file=$1 regex=$2 limit=${3:-10} i
	for ((i = 0; i < limit * 50; i++)); do
		if [ -f "$file" ] && grep -Eq -- "$regex" "$file"; then
			return 0
		fi
		sleep 0.02
	done
	echo "timed out waiting for /$regex/ in $file" >&2
	[ -f "$file" ] && cat "$file" >&2
	return 1
}

# Wait (bounded) until process PID has exited.
np_wait_exit() {
	local pid=$1 limit=${2:-10} i
	for ((i = 0; i < limit * 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.02
	done
	echo "process $pid still running after ${limit}s" >&2
	return 1
}

# np_listen ARGS...: start `netpipe -v -l ARGS` in the background with
# stdin from $NP_IN (default /dev/null) and stdout to $NP_OUT (default
# $BATS_TEST_TMPDIR/out), wait for its "Listening on"/"Bound on" line,
# and set NP_PID and NP_PORT (empty for Unix paths).
np_listen() {
	local in=${NP_IN:-/dev/null} out=${NP_OUT:-$BATS_TEST_TMPDIR/out}
	local err=${NP_ERR:-$BATS_TEST_TMPDIR/listen.err}
	: >"$err"
	np -v -l "$@" <"$in" >"$out" 2>"$err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$err" '^(Listening|Bound) on ' || return 1
	NP_PORT=$(sed -nE 's/^(Listening|Bound) on .* ([0-9]+)$/\2/p' "$err" |
	    head -n 1)
}

# Start a python3 TCP/UDP listener on 127.0.0.1 port 0 running SCRIPT
# (python code that has `s`, the bound socket) and set PY_PID and PY_PORT.
# SCRIPT's stdout goes to $BATS_TEST_TMPDIR/py.out.
np_python_listen() {
	local kind=$1 script=$2 portfile=$BATS_TEST_TMPDIR/py.port
	rm -f "$portfile"
	python3 -c "
import socket, sys, os
s = socket.socket(socket.AF_INET, socket.SOCK_$kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0))
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
