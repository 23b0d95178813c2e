#!/usr/bin/env bats
# Which path the bytes take (issue 3, SPEC section 4): strace shows
# sendfile(2) from a regular-file input, splice(2) into a file or pipe
# output, the copy loop for --io rw and --io send, and the fall-back when a
# descriptor refuses zero-copy; every --io mode moves identical bytes over
# TCP and Unix sockets both ways; memory stays flat on a 256 MiB transfer.
# Peers: nc.openbsd, socat, python3.

load helpers

NP_TIMEOUT=30
ZC_MODES=(auto rw send zerocopy)

# One 32 MiB file of runs of NUL and random bytes (as np_nul_file makes),
# shared read-only by the --io mode tests, with its sha256.
setup_file() {
	local i
	export ZC_NUL=$BATS_FILE_TMPDIR/nul32
	for ((i = 0; i < 32; i++)); do
		if ((i % 2 == 0)); then
			head -c 1M /dev/zero
		else
			head -c 1M /dev/urandom
		fi
	done >"$ZC_NUL"
	ZC_NUL_SHA=$(sha256sum "$ZC_NUL" | cut -d' ' -f1)
	export ZC_NUL_SHA
}

# Skip unless strace can trace here (ptrace may be forbidden in a sandbox).
zc_need_strace() {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -qq -o /dev/null true 2>/dev/null ||
	    skip "strace cannot trace here (ptrace is not permitted)"
}

# zc_strace TRACE IN OUT ARGS...: np_io under strace, recording the data
# syscalls with each descriptor decoded (-yy: "5<TCP:[...]>", "1</path>").
# LeakSanitizer cannot run under ptrace, so a sanitizer build skips it.
zc_strace() {
	local trace=$1 in=$2 out=$3
	shift 3
	NP_RC=0
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    timeout "$NP_TIMEOUT" strace -f -qq -yy -s 0 -e signal=none \
	    -e trace=sendfile,splice,read,write,recvfrom,sendto,setsockopt \
	    -o "$trace" \
	    "${NP[@]}" "$@" <"$in" >"$out" 2>"$BATS_TEST_TMPDIR/np.err" ||
	    NP_RC=$?
	NP_STDERR=$(cat "$BATS_TEST_TMPDIR/np.err")
	zc_join "$trace"
}

# zc_join TRACE: with two threads in a call at once, strace splits each
# call in two lines ("PID call(args <unfinished ...>", later "PID <...
# call resumed>) = N"); join them back into one, in place.
zc_join() {
	awk '
	/ <unfinished \.\.\.>$/ {
		sub(/ <unfinished \.\.\.>$/, "")
		held[$1] = $0
		next
	}
	$2 == "<..." && $4 ~ /^resumed>/ {
		pid = $1
		sub(/^[0-9]+ +<\.\.\. [a-z0-9_]+ resumed>/, "")
		print held[pid] $0
		delete held[pid]
		next
	}
	{ print }' "$1" >"$1.joined" && mv "$1.joined" "$1"
}

# zc_lines TRACE CALL ARGS_RE: the CALL lines of TRACE whose arguments
# match the extended regex ARGS_RE, as "PID ARGS) = RESULT".
zc_lines() {
	ZC_CALL=$2 ZC_RE=$3 awk '
	{
		pid = $1
		sub(/^[0-9]+ +/, "")
		call = ENVIRON["ZC_CALL"] "("
		if (index($0, call) != 1)
			next
		args = substr($0, length(call) + 1)
		if (args ~ ENVIRON["ZC_RE"])
			print pid " " args
	}' "$1"
}

# zc_calls TRACE CALL ARGS_RE: those lines as "ARGS) = RESULT".
zc_calls() {
	zc_lines "$@" | cut -d' ' -f2-
}

# zc_sum TRACE CALL ARGS_RE: the bytes those calls moved (their results).
zc_sum() {
	zc_calls "$@" | awk '{ n = $NF } n + 0 > 0 { s += n } END { print s + 0 }'
}

# zc_count TRACE CALL ARGS_RE: how many such calls there were.
zc_count() {
	zc_calls "$@" | wc -l
}

# Descriptor patterns, as strace -yy prints them.
TCP='[0-9]+<TCP:\['
UNIX='[0-9]+<UNIX-STREAM:\['
PIPE='[0-9]+<pipe:\['

# zc_socat_listen PATH OUT: socat receiving one Unix stream peer into OUT.
zc_socat_listen() {
	local log=$BATS_TEST_TMPDIR/socat.log
	: >"$log"
	socat -d -d -u "UNIX-LISTEN:$1" "OPEN:$2,creat,trunc" 2>"$log" 3>&- &
	SOCAT_PID=$!
	np_track "$SOCAT_PID"
	np_wait_for "$log" 'listening on'
}

# zc_held_environ: a process whose /proc/PID/environ (a regular file that
# sendfile(2) refuses with EINVAL) holds about 800 KiB; sets ENVIRON_FILE.
zc_held_environ() {
	local vars=() i
	for ((i = 0; i < 8; i++)); do
		vars+=("NP_BLOB$i=$(head -c 75000 /dev/urandom | base64 -w 0)")
	done
	env -i "${vars[@]}" "${NP_HOLD[@]}" 3>&- &
	np_track $!
	ENVIRON_FILE=/proc/$!/environ
	# A /proc file has no size to stat; wait until env has exec'd the holder.
	np_until 10 zc_environ_copied ||
	    fail "$ENVIRON_FILE never held the environment"
}

# zc_environ_copied: $ENVIRON_FILE, copied to $BATS_TEST_TMPDIR/environ,
# holds the 800 KiB zc_held_environ put there.
zc_environ_copied() {
	cat "$ENVIRON_FILE" >"$BATS_TEST_TMPDIR/environ"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/environ")" -gt 800000 ]
}

@test "a regular-file stdin goes out with sendfile(2), never read(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	zc_strace "$trace" "$in" /dev/null -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" sendfile "^$TCP.*, 0<$in>")" 4194304
	assert_equal "$(zc_count "$trace" read '^0<')" 0
	assert_equal "$(zc_count "$trace" sendto "^$TCP")" 0
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--send-file goes out over a Unix socket with sendfile(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace sock=$BATS_TEST_TMPDIR/s.sock
	local got=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	zc_socat_listen "$sock" "$got"
	zc_strace "$trace" /dev/null /dev/null --send-file "$in" -U "$sock"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" sendfile "^$UNIX.*, [0-9]+<$in>")" \
	    4194304
	assert_equal "$(zc_count "$trace" sendto "^$UNIX")" 0
	np_status "$SOCAT_PID"
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "a regular-file stdout is filled with splice(2) from the socket, never write(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null "$out" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" splice "^$TCP.*NULL, $PIPE")" 4194304
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<$out>")" 4194304
	assert_equal "$(zc_count "$trace" write '^1<')" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

# zc_pids TRACE CALL ARGS_RE: the threads (strace -f PIDs) that made
# those calls, one per line.
zc_pids() {
	zc_lines "$@" | cut -d' ' -f1 | sort -u
}

# zc_need_cpus N: skip unless this process may run on N CPUs at once.
zc_need_cpus() {
	(($(nproc) >= $1)) || skip "needs $1 CPUs, has $(nproc)"
}

@test "on two CPUs a second thread writes a regular-file stdout from two pipes while the first takes from the socket" {
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	local reader writer
	zc_need_strace
	zc_need_cpus 2
	NP_IN=$ZC_NUL np_listen -N 127.0.0.1 0
	zc_strace "$trace" /dev/null "$out" 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$ZC_NUL_SHA"
	reader=$(zc_pids "$trace" splice "^$TCP.*NULL, $PIPE")
	writer=$(zc_pids "$trace" splice "^$PIPE.*NULL, 1<$out>")
	assert_equal "$(wc -l <<<"$reader")" 1
	assert_equal "$(wc -l <<<"$writer")" 1
	[ "$reader" != "$writer" ] || fail "one thread both read and wrote"
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<$out>")" 33554432
	# Two pipes take turns, so the reader never waits for the copy.
	assert_equal "$(zc_calls "$trace" splice "^$PIPE.*NULL, 1<$out>" |
	    cut -d'<' -f2 | sort -u | wc -l)" 2
}

@test "confined to one CPU, netpipe writes a regular-file stdout from the thread that reads the socket" {
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	NP_IN=$ZC_NUL np_listen -N 127.0.0.1 0
	local NP=(taskset -c 0 "${NP[@]}")
	zc_strace "$trace" /dev/null "$out" 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$ZC_NUL_SHA"
	assert_equal "$(zc_pids "$trace" splice .)" \
	    "$(zc_pids "$trace" splice "^$TCP.*NULL, $PIPE")"
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<$out>")" 33554432
}

# zc_fsize_cut [WRAPPER...]: receive $ZC_NUL into a file under a 1 MiB
# file-size limit (ulimit -f 1024) through WRAPPER, and check that
# netpipe says why it stopped, exits 1 and leaves the first MiB intact.
zc_fsize_cut() {
	local out=$BATS_TEST_TMPDIR/got
	NP_IN=$ZC_NUL np_listen -N 127.0.0.1 0
	NP_RC=0
	(ulimit -f 1024 && exec timeout 10 "$@" "${NP[@]}" 127.0.0.1 \
	    "$NP_PORT" </dev/null >"$out" 2>"$BATS_TEST_TMPDIR/np.err") ||
	    NP_RC=$?
	assert_equal "$NP_RC" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/np.err")" \
	    "netpipe: stdout: File too large"
	assert_equal "$(stat -c %s "$out")" 1048576
	assert_equal "$(np_sha "$out")" "$(head -c 1M "$ZC_NUL" | np_sha /dev/stdin)"
}

@test "a file-size limit stops the writer thread with 'stdout: File too large' and exit 1, the file a prefix" {
	zc_need_cpus 2
	zc_fsize_cut
}

@test "a file-size limit stops a one-CPU receive the same way, not with a SIGXFSZ core dump" {
	zc_fsize_cut taskset -c 0
}

@test "splice(2) refused by a regular file (/proc/self/comm) falls back to write(2) in the writer thread, every byte taken" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	zc_need_cpus 2
	in=$(np_random_file in 1M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null /dev/null -vv --output /proc/self/comm \
	    127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_calls "$trace" splice '^[0-9]+<pipe:.*NULL, [0-9]+</proc/.*/comm>' |
	    grep -c '= -1 EINVAL')" 1
	assert_equal "$(zc_sum "$trace" write '^[0-9]+</proc/.*/comm>')" 1048576
	[ "$(zc_pids "$trace" write '^[0-9]+</proc/.*/comm>')" != \
	    "$(zc_pids "$trace" splice "^$TCP")" ] ||
	    fail "the thread that reads the socket wrote the file"
	assert_equal "$(grep -c refused <<<"$NP_STDERR")" 1
	[[ $NP_STDERR == *"netpipe: splice to output refused; using the copy loop: Invalid argument"* ]] ||
	    fail "no refusal message: $NP_STDERR"
}

@test "splice(2) refused by a regular file on one CPU: the pump reads back what the pipe holds and writes every byte itself" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	in=$(np_random_file in 1M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	NP=(taskset -c 0 "${NP[@]}")
	zc_strace "$trace" /dev/null /dev/null -vv --output /proc/self/comm \
	    127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_calls "$trace" splice '^[0-9]+<pipe:.*NULL, [0-9]+</proc/.*/comm>' |
	    grep -c '= -1 EINVAL')" 1
	assert_equal "$(zc_sum "$trace" write '^[0-9]+</proc/.*/comm>')" 1048576
	assert_equal "$(zc_pids "$trace" write '^[0-9]+</proc/.*/comm>' | sort -u | wc -l)" 1
	assert_equal "$(grep -c refused <<<"$NP_STDERR")" 1
}

@test "a pipe stdout is filled with splice(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace sum=$BATS_TEST_TMPDIR/sum
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null >(np_sha /dev/stdin >"$sum") \
	    127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<pipe:")" 4194304
	assert_equal "$(zc_count "$trace" write '^1<')" 0
	np_wait_for "$sum" '^[0-9a-f]{64}$'
	assert_equal "$(cat "$sum")" "$(np_sha "$in")"
}

@test "a pipe stdout on the splice(2) path whose reader leaves with nothing pending: exit 0, no complaint" {
	local in trace=$BATS_TEST_TMPDIR/trace fifo=$BATS_TEST_TMPDIR/out.fifo
	local got=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 1M)
	# The peer sends 1 MiB and stays; the reader takes 1 MiB and leaves.
	NP_PY_FILE=$in np_python_listen STREAM '
import os, time
c, a = s.accept()
with open(os.environ["NP_PY_FILE"], "rb") as f:
    c.sendall(f.read())
time.sleep(30)
'
	mkfifo "$fifo"
	head -c 1048576 <"$fifo" >"$got" 3>&- &
	np_track $!
	zc_strace "$trace" /dev/null "$fifo" 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_STDERR" ""
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<$fifo>")" 1048576
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "--output FILE is filled with splice(2) and stdout gets nothing" {
	local in trace=$BATS_TEST_TMPDIR/trace got=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null "$BATS_TEST_TMPDIR/stdout" --output "$got" \
	    127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, [0-9]+<$got>")" \
	    4194304
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/stdout")" 0
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "auto chooses per descriptor: a pipe stdin is read(2) and sent, a file stdout still gets splice(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	np_python_listen STREAM '
c, a = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
c.close()
'
	zc_strace "$trace" <(cat "$in") "$out" -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" read '^0<pipe:')" 4194304
	assert_equal "$(zc_sum "$trace" sendto "^$TCP")" 4194304
	assert_equal "$(zc_count "$trace" sendfile .)" 0
	assert_equal "$(zc_sum "$trace" splice "^$PIPE.*NULL, 1<$out>")" 4194304
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "--io rw sends with write(2) on the socket, no sendfile(2) or sendto(2)" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	zc_strace "$trace" "$in" /dev/null --io rw -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" read "^0<$in>")" 4194304
	assert_equal "$(zc_sum "$trace" write "^$TCP")" 4194304
	assert_equal "$(zc_count "$trace" sendfile .)" 0
	assert_equal "$(zc_count "$trace" sendto .)" 0
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--io rw receives with read(2) from the socket and write(2) to stdout" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null "$out" --io rw 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" read "^$TCP")" 4194304
	assert_equal "$(zc_sum "$trace" write "^1<$out>")" 4194304
	assert_equal "$(zc_count "$trace" splice .)" 0
	assert_equal "$(zc_count "$trace" recvfrom .)" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "--io send sends with sendto(2), no sendfile(2) or write(2) on the socket" {
	local in trace=$BATS_TEST_TMPDIR/trace sock=$BATS_TEST_TMPDIR/s.sock
	local got=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	zc_socat_listen "$sock" "$got"
	zc_strace "$trace" "$in" /dev/null --io send -N -U "$sock"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" sendto "^$UNIX")" 4194304
	assert_equal "$(zc_count "$trace" sendfile .)" 0
	assert_equal "$(zc_count "$trace" write "^$UNIX")" 0
	np_status "$SOCAT_PID"
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "--io send from a regular file sends with MSG_MORE, so TCP fills its segments" {
	local in trace=$BATS_TEST_TMPDIR/trace got=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 1M)
	NC_OUT=$got np_nc_listen -d -n 127.0.0.1 0
	zc_strace "$trace" "$in" /dev/null --io send -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" sendto "^$TCP")" 1048576
	(($(zc_calls "$trace" sendto "^$TCP" | grep -c MSG_MORE) > 0)) ||
	    fail "no send with MSG_MORE"
	np_until 10 test "$(stat -c %s "$got")" = 1048576
	assert_equal "$(np_sha "$got")" "$(np_sha "$in")"
}

@test "--io send receives with recvfrom(2), no splice(2) or read(2) on the socket" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null "$out" --io send 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_sum "$trace" recvfrom "^$TCP")" 4194304
	assert_equal "$(zc_count "$trace" splice .)" 0
	assert_equal "$(zc_count "$trace" read "^$TCP")" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "--digest keeps the copy loop: no sendfile(2) or splice(2) when the bytes must be seen" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NP_REPLY=$in np_python_listen STREAM '
c, a = s.accept()
while c.recv(65536):
    pass
with open(os.environ["NP_REPLY"], "rb") as f:
    c.sendall(f.read())
c.close()
'
	zc_strace "$trace" "$in" "$out" --digest sha256 -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_count "$trace" sendfile .)" 0
	assert_equal "$(zc_count "$trace" splice .)" 0
	assert_equal "$(zc_sum "$trace" sendto "^$TCP")" 4194304
	assert_equal "$(zc_sum "$trace" recvfrom "^$TCP")" 4194304
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "an O_APPEND stdout skips splice(2), is written with write(2) and keeps what it held" {
	local in trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	in=$(np_random_file in 4M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	echo head >"$out"
	NP_RC=0
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    timeout 10 strace -f -qq -yy -s 0 -e signal=none \
	    -e trace=splice,write,recvfrom -o "$trace" \
	    "${NP[@]}" 127.0.0.1 "$NC_PORT" </dev/null >>"$out" || NP_RC=$?
	assert_equal "$NP_RC" 0
	assert_equal "$(zc_count "$trace" splice .)" 0
	assert_equal "$(zc_sum "$trace" write "^1<$out>")" 4194304
	assert_equal "$(head -n 1 "$out")" head
	assert_equal "$(tail -c +6 "$out" | np_sha /dev/stdin)" "$(np_sha "$in")"
}

@test "sendfile(2) refused with EINVAL falls back to read(2) for that input and sends every byte" {
	local trace=$BATS_TEST_TMPDIR/trace size
	zc_need_strace
	zc_held_environ
	size=$(stat -c %s "$BATS_TEST_TMPDIR/environ")
	np_nc_listen -n 127.0.0.1 0
	zc_strace "$trace" "$ENVIRON_FILE" /dev/null -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	# Refused once, silently without -vv; then the copy loop.
	assert_equal "$NP_STDERR" ""
	assert_equal "$(zc_calls "$trace" sendfile . | grep -c '= -1 EINVAL')" 1
	assert_equal "$(zc_sum "$trace" read '^0</proc/')" "$size"
	assert_equal "$(zc_sum "$trace" sendto "^$TCP")" "$size"
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/environ")"
}

@test "-vv says once that sendfile(2) was refused and the copy loop took over" {
	zc_held_environ
	np_nc_listen -n 127.0.0.1 0
	np_io "$ENVIRON_FILE" /dev/null -vv -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(grep -c refused <<<"$NP_STDERR")" 1
	assert_equal "$(grep refused <<<"$NP_STDERR")" \
	    "netpipe: sendfile refused; using the copy loop: Invalid argument"
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/environ")"
}

@test "splice(2) refused by /dev/full falls back to write(2) on that output, which reports ENOSPC" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	in=$(np_random_file in 1M)
	NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
	zc_strace "$trace" /dev/null /dev/full -vv 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 1
	assert_equal "$(zc_calls "$trace" splice '^[0-9]+<pipe:.*NULL, 1</dev/full' |
	    grep -c '= -1 EINVAL')" 1
	assert_equal "$(zc_calls "$trace" write '^1</dev/full' |
	    grep -c '= -1 ENOSPC')" 1
	[[ $NP_STDERR == *"netpipe: splice to output refused; using the copy loop: Invalid argument"* ]] ||
	    fail "no refusal message: $NP_STDERR"
	assert_equal "$(grep -c '^netpipe: stdout: ' <<<"$NP_STDERR")" 1
	assert_equal "$(grep '^netpipe: stdout: ' <<<"$NP_STDERR")" \
	    "netpipe: stdout: No space left on device"
}

# zc_lowat_peer SIZE: a python3 TCP listener that sends SIZE random bytes
# (kept in $BATS_TEST_TMPDIR/sent), then, with the connection still open,
# waits up to 10 s for netpipe's output ($BATS_TEST_TMPDIR/got) to hold all
# of them and prints "delivered while open" or "stalled at N" before it
# closes.  A tail smaller than SO_RCVLOWAT arrives only if netpipe lowers
# the mark again by itself.
zc_lowat_peer() {
	NP_SIZE=$1 NP_DIR=$BATS_TEST_TMPDIR np_python_listen STREAM '
import time
d = os.environ["NP_DIR"]
data = os.urandom(int(os.environ["NP_SIZE"]))
with open(d + "/sent", "wb") as f:
    f.write(data)
c, a = s.accept()
c.sendall(data)
end = time.monotonic() + 10
n = 0
while time.monotonic() < end:
    n = os.path.getsize(d + "/got")
    if n == len(data):
        break
    time.sleep(0.005)
print("delivered while open" if n == len(data) else "stalled at %d" % n)
sys.stdout.flush()
c.close()
'
}

# zc_lowat_delivered: after zc_strace against zc_lowat_peer, netpipe
# exited 0 and wrote every byte, the tail before the peer closed.
zc_lowat_delivered() {
	assert_equal "$NP_RC" 0
	np_status "$PY_PID"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" "delivered while open"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" \
	    "$(np_sha "$BATS_TEST_TMPDIR/sent")"
}

@test "a full splice pipe is drained before the socket is read again: no splice(2) from it fails with EAGAIN" {
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	# A sendfile(2) sender fills the pipe's buffers with page-sized bits.
	NP_IN=$ZC_NUL np_listen -N 127.0.0.1 0
	zc_strace "$trace" /dev/null "$out" 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$ZC_NUL_SHA"
	assert_equal "$(zc_sum "$trace" splice "^$TCP.*NULL, $PIPE")" 33554432
	run zc_count "$trace" splice "^$TCP.*= -1 EAGAIN"
	assert_output 0
}

@test "sendfile(2) into a TCP socket a slow reader keeps full sets TCP_NOTSENT_LOWAT once and sends every byte" {
	local in trace=$BATS_TEST_TMPDIR/trace
	zc_need_strace
	in=$(np_random_file in 16M)
	# A small receive buffer, read 64 KiB a millisecond: about 1 GB/s
	# at most, so netpipe's socket fills and sendfile(2) comes back short.
	NP_DIR=$BATS_TEST_TMPDIR np_python_listen STREAM '
import time
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
c, a = s.accept()
with open(os.environ["NP_DIR"] + "/got", "wb") as f:
    while True:
        d = c.recv(65536)
        if not d:
            break
        f.write(d)
        time.sleep(0.001)
'
	zc_strace "$trace" "$in" /dev/null -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	np_status "$PY_PID" 30
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/got")" "$(np_sha "$in")"
	assert_equal "$(zc_sum "$trace" sendfile "^$TCP")" 16777216
	run grep -c 'TCP_NOTSENT_LOWAT, \[131072\]' "$trace"
	assert_output 1
}

# A telnet server for -t: it says IAC DO ECHO before it reads a byte, takes
# sys.argv[1] bytes and the 3-byte refusal, then says IAC DO SGA and reads
# that refusal.  It prints where the first refusal came, the sha256 of the
# rest, and the second refusal in hex.  The data must hold no 0xff byte.
PY_TELNET_ASKS='
import hashlib
size = int(sys.argv[1])
c, a = s.accept()
c.sendall(b"\xff\xfd\x01")
got = bytearray()
while len(got) < size + 3:
    d = c.recv(1 << 20)
    if not d:
        break
    got += d
at = got.find(b"\xff\xfc\x01")
if at >= 0:
    del got[at:at + 3]
print(at)
print(hashlib.sha256(got).hexdigest())
c.sendall(b"\xff\xfd\x03")
r = b""
while len(r) < 3:
    d = c.recv(3 - len(r))
    if not d:
        break
    r += d
print(r.hex())
sys.stdout.flush()
c.close()
'

@test "-t from a regular file: a telnet refusal queued while sendfile(2) runs goes first, then sendfile(2) goes on" {
	local in trace=$BATS_TEST_TMPDIR/trace size=$((32 * 1024 * 1024))
	local refusal got
	zc_need_strace
	# NUL bytes and all others but 0xff, which would start a telnet command.
	in=$BATS_TEST_TMPDIR/in
	head -c "$size" /dev/urandom | tr '\377' '\376' >"$in"
	np_py_listen STREAM "$PY_TELNET_ASKS" "$size"
	zc_strace "$trace" "$in" /dev/null -t 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	np_status "$PY_PID"
	mapfile -t got <"$BATS_TEST_TMPDIR/py.out"
	# The server read nothing before it asked, and 32 MiB cannot all wait in
	# the socket buffers: the refusal came whole, before the file's end
	# (often at 0, before the first sendfile(2)).
	((got[0] >= 0 && got[0] < size))
	assert_equal "${got[1]}" "$(np_sha "$in")"
	# The one asked after the file's end went too.
	assert_equal "${got[2]}" fffc03
	assert_equal "$(zc_sum "$trace" sendfile "^$TCP.*, 0<$in>")" "$size"
	assert_equal "$(zc_count "$trace" read '^0<')" 0
	# Each refusal is one 3-byte send(2) from the buffer, and the file
	# goes on with sendfile(2) after the first.
	assert_equal "$(zc_calls "$trace" sendto "^$TCP" | grep -c ', 3, .*= 3$')" 2
	refusal=$(grep -nE "sendto\($TCP.*, 3, .*= 3$" "$trace" | head -n 1 |
	    cut -d: -f1)
	tail -n "+$refusal" "$trace" | grep -qE "sendfile\($TCP.*, 0<$in>.*= [1-9]"
}

@test "a bulk TCP receive raises SO_RCVLOWAT and a burst's tail still arrives before the peer closes" {
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	: >"$out"
	# 4 MiB and then 100 KB: the tail is less than the 256 KiB mark.
	zc_lowat_peer $((4194304 + 100000))
	zc_strace "$trace" /dev/null "$out" 127.0.0.1 "$PY_PORT"
	zc_lowat_delivered
	grep -q 'SO_RCVLOWAT, \[262144\]' "$trace" ||
	    fail "SO_RCVLOWAT was never raised: $(cat "$trace")"
	# Whether the tail sat below the mark alone depends on how fast
	# netpipe read under strace; the copy-loop test below, whose reads
	# end on its buffer's size, is the one that stalls without the 1 ms
	# deadline.
}

@test "the copy loop raises SO_RCVLOWAT to half its buffer and delivers every byte" {
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/got
	zc_need_strace
	: >"$out"
	zc_lowat_peer $((4194304 + 50000))
	zc_strace "$trace" /dev/null "$out" --io rw 127.0.0.1 "$PY_PORT"
	zc_lowat_delivered
	grep -q 'SO_RCVLOWAT, \[131072\]' "$trace" ||
	    fail "SO_RCVLOWAT was never raised: $(cat "$trace")"
}

@test "-W, --rate and Unix sockets leave SO_RCVLOWAT alone" {
	local trace=$BATS_TEST_TMPDIR/trace in sock=$BATS_TEST_TMPDIR/s.sock
	local out=$BATS_TEST_TMPDIR/got args
	zc_need_strace
	in=$(np_random_file in 4M)
	for args in "-W 1000000" "--rate 1G"; do
		NC_IN=$in np_nc_listen -N -n 127.0.0.1 0
		zc_strace "$trace" /dev/null "$out" $args 127.0.0.1 "$NC_PORT"
		assert_equal "$args $NP_RC" "$args 0"
		assert_equal "$args $(np_sha "$out")" "$args $(np_sha "$in")"
		run grep -c SO_RCVLOWAT "$trace"
		assert_output 0
	done
	socat -u "OPEN:$in" "UNIX-LISTEN:$sock" 3>&- &
	np_track $!
	np_wait_socket "$sock"
	zc_strace "$trace" /dev/null "$out" -U "$sock"
	assert_equal "$NP_RC" 0
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
	run grep -c SO_RCVLOWAT "$trace"
	assert_output 0
}

@test "every --io mode sends 32 MiB with NUL bytes over TCP to nc.openbsd intact" {
	local in=$ZC_NUL want=$ZC_NUL_SHA mode
	for mode in "${ZC_MODES[@]}"; do
		np_nc_listen -n 127.0.0.1 0
		np_io "$in" /dev/null --io "$mode" -N 127.0.0.1 "$NC_PORT"
		assert_equal "$mode $NP_RC" "$mode 0"
		np_status "$NC_PID" 30
		assert_equal "$mode $(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$mode $want"
	done
}

@test "every --io mode receives 32 MiB with NUL bytes over TCP from nc.openbsd intact" {
	local in=$ZC_NUL want=$ZC_NUL_SHA mode out=$BATS_TEST_TMPDIR/out
	for mode in "${ZC_MODES[@]}"; do
		np_listen_exec --io "$mode" 127.0.0.1 0
		timeout 30 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in"
		np_status "$NP_PID" 30
		assert_equal "$mode $NP_STATUS" "$mode 0"
		assert_equal "$mode $(np_sha "$out")" "$mode $want"
	done
}

@test "every --io mode sends 32 MiB with NUL bytes over a Unix socket to socat intact" {
	local in=$ZC_NUL want=$ZC_NUL_SHA mode sock=$BATS_TEST_TMPDIR/s.sock
	local got=$BATS_TEST_TMPDIR/got
	for mode in "${ZC_MODES[@]}"; do
		rm -f "$sock"
		zc_socat_listen "$sock" "$got"
		np_io "$in" /dev/null --io "$mode" -N -U "$sock"
		assert_equal "$mode $NP_RC" "$mode 0"
		np_status "$SOCAT_PID" 30
		assert_equal "$mode $(np_sha "$got")" "$mode $want"
	done
}

@test "every --io mode receives 32 MiB with NUL bytes over a Unix socket from socat intact" {
	local in=$ZC_NUL want=$ZC_NUL_SHA mode sock=$BATS_TEST_TMPDIR/s.sock
	local out=$BATS_TEST_TMPDIR/out
	for mode in "${ZC_MODES[@]}"; do
		np_listen_exec --io "$mode" -U "$sock"
		timeout 30 socat -u "OPEN:$in" "UNIX-CONNECT:$sock"
		np_status "$NP_PID" 30
		assert_equal "$mode $NP_STATUS" "$mode 0"
		assert_equal "$mode $(np_sha "$out")" "$mode $want"
	done
}

# zc_rss_run RSSFILE LISTEN_ARGS -- CLIENT_ARGS: one transfer of $ZC_IN
# with both ends under GNU time; their peak RSS (KiB, the VmHWM at exit) go
# to RSSFILE.l and RSSFILE.c.  The listener writes to /dev/null and its -v
# summary must count every byte.
zc_rss_run() {
	local rss=$1 largs=() err=$BATS_TEST_TMPDIR/listen.err
	shift
	while [ "$1" != -- ]; do
		largs+=("$1")
		shift
	done
	shift
	: >"$err"
	/usr/bin/time -f %M -o "$rss.l" "${NP[@]}" -v -l "${largs[@]}" \
	    </dev/null >/dev/null 2>"$err" 3>&- &
	NP_PID=$!
	np_track "$NP_PID"
	np_wait_for "$err" '^Listening on '
	NP_PORT=$(sed -nE 's/^Listening on .* ([0-9]+)$/\1/p' "$err")
	[ -z "$NP_PORT" ] || set -- "$@" "$NP_PORT"
	timeout 60 /usr/bin/time -f %M -o "$rss.c" "${NP[@]}" -N "$@" \
	    <"$ZC_IN" >/dev/null
	np_status "$NP_PID" 60
	assert_equal "$NP_STATUS" 0
	grep -q "^netpipe: sent 0 B, received $ZC_HUMAN in " "$err" ||
	    fail "the listener did not receive $ZC_HUMAN: $(cat "$err")"
}

@test "peak RSS of both ends stays under 8 MiB for 256 MiB and does not grow with the size" {
	local rss=$BATS_TEST_TMPDIR/rss sock=$BATS_TEST_TMPDIR/s.sock small end
	[ -z "${NETPIPE_WRAP:-}" ] || skip "netpipe runs under $NETPIPE_WRAP"
	! grep -q __asan_init "$NETPIPE" ||
	    skip "a sanitizer build keeps shadow memory"
	[ -x /usr/bin/time ] || skip "GNU time is not installed"
	# Memory does not depend on the bytes: sparse files, read as NULs,
	# cost no time to make.
	ZC_IN=$BATS_TEST_TMPDIR/small ZC_HUMAN="4.00 MiB"
	truncate -s 4M "$ZC_IN"
	zc_rss_run "$rss.small" 127.0.0.1 0 -- 127.0.0.1
	ZC_IN=$BATS_TEST_TMPDIR/big ZC_HUMAN="256.0 MiB"
	truncate -s 256M "$ZC_IN"
	zc_rss_run "$rss.tcp" 127.0.0.1 0 -- 127.0.0.1
	zc_rss_run "$rss.unix" --io rw -U "$sock" -- --io rw -U "$sock"
	for end in l c; do
		small=$(cat "$rss.small.$end")
		((small < 8192)) || fail "4 MiB, $end: $small KiB"
		(($(cat "$rss.tcp.$end") < 8192)) ||
		    fail "256 MiB TCP, $end: $(cat "$rss.tcp.$end") KiB"
		(($(cat "$rss.unix.$end") < 8192)) ||
		    fail "256 MiB Unix rw, $end: $(cat "$rss.unix.$end") KiB"
		# Flat: 64 times the data, at most 1 MiB more memory.
		(($(cat "$rss.tcp.$end") < small + 1024)) ||
		    fail "$end grew from $small to $(cat "$rss.tcp.$end") KiB"
	done
}
