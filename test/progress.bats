#!/usr/bin/env bats
# What a user sees of a transfer (issue 7): --progress in a real terminal
# (tmux) and in a file, --stats text and JSON, the -v summary, --digest on
# both ends, --hex-dump for TCP, UDP and Unix sockets, --rate, and TCP
# urgent data with --send-flags oob.  Peers: nc.openbsd, socat, python3.

load helpers

# The progress line: bytes, rate, elapsed, and percent + ETA when the size
# is known ("2.05 MiB 2.22 MiB/s 0.9 s  51.3% ETA 1 s").
PROGRESS_RE='^[0-9.]+ (B|KiB|MiB|GiB) [0-9.]+ (B|KiB|MiB|GiB)/s [0-9]+\.[0-9] s'
PERCENT_RE=' +[0-9]+\.[0-9]% ETA [0-9]+ s$'

# python3 peer: read to EOF, then answer with $NP_REPLY bytes and close.
PY_READ_REPLY='
c, a = s.accept()
while c.recv(65536):
    pass
c.sendall(b"r" * int(os.environ["NP_REPLY"]))
c.close()
'

# python3 peer: read what arrives, taking TCP urgent data out of band
# (select's exceptional condition, recv MSG_OOB); print both as hex.
PY_OOB='
import select
c, a = s.accept()
data, oob = b"", b""
while True:
    r, w, x = select.select([c], [], [c], 5)
    if not r and not x:
        break
    if x:
        try:
            oob += c.recv(1, socket.MSG_OOB)
        except OSError:
            pass
    if r:
        try:
            d = c.recv(65536)
        except OSError:
            continue
        if not d:
            break
        data += d
print(data.hex(), oob.hex() or "-", flush=True)
c.close()
'

# tmux_start CMD [COLUMNS]: run CMD (a bash command line) in a detached
# tmux session, 100 (or COLUMNS) by 10, on a private server.  Sets
# TMUX_SOCK; the server is tracked so teardown kills it, and with it the
# pane.
tmux_start() {
	local conf=$BATS_TEST_TMPDIR/tmux.conf pid
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	printf '%s\n' 'set -g status off' 'set -g default-shell /bin/bash' \
	    >"$conf"
	timeout 10 tmux -S "$TMUX_SOCK" -f "$conf" new-session -d \
	    -x "${2:-100}" -y 10 "$1" 3>&-
	pid=$(timeout 10 tmux -S "$TMUX_SOCK" display-message -p '#{pid}')
	np_track "$pid"
}

# The screen of the tmux pane, trailing blanks removed.
tmux_screen() {
	timeout 10 tmux -S "$TMUX_SOCK" capture-pane -p | sed 's/ *$//'
}

# to_bytes VALUE UNIT: a human size back to bytes.
to_bytes() {
	awk -v v="$1" -v u="$2" 'BEGIN {
		m["B"] = 1; m["KiB"] = 1024; m["MiB"] = 1048576
		m["GiB"] = 1073741824
		printf "%.0f\n", v * m[u]
	}'
}

# within LOW VALUE HIGH: LOW <= VALUE <= HIGH (decimals allowed).
within() {
	awk -v l="$1" -v v="$2" -v h="$3" 'BEGIN { exit !(l <= v && v <= h) }' ||
	    fail "$2 is not within [$1, $3]"
}

# The last record of a --progress=always stream (after the last \r).
last_record() {
	tr '\r' '\n' <"$1" | sed 's/\x1b\[K//g' | grep -v '^$' | tail -n 1
}

# prog_mid_line: true once the tmux screen shows a progress line with a
# percent, half a second or more in and short of 100%; it goes to
# PROG_LINE.
prog_mid_line() {
	PROG_LINE=$(tmux_screen | grep -E "$PROGRESS_RE$PERCENT_RE" |
	    awk '$5 >= 0.5 && $7 + 0 < 100' | head -n 1)
	[ -n "$PROG_LINE" ]
}

@test "--progress in a terminal redraws one line with bytes, rate, percent and ETA" {
	local in st=$BATS_TEST_TMPDIR/status cmd line="" screen i
	local bytes unit rate runit pct
	command -v tmux >/dev/null || skip "tmux is not installed"
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	printf -v cmd '%q ' "${NP[@]}"
	# cat keeps the pane, and the final screen, until teardown.
	cmd+="--progress --rate 2M -N 127.0.0.1 $NC_PORT <$in; echo \$? >$st;"
	cmd+=" exec cat"
	tmux_start "$cmd"
	# Half a second in, the burst at the start no longer dominates the rate.
	np_until 10 prog_mid_line ||
	    fail "no progress line mid-transfer: $(tmux_screen)"
	line=$PROG_LINE
	read -r bytes unit rate runit _ <<<"$line"
	pct=$(awk '{ print $7 + 0 }' <<<"$line")
	# --rate 2M: between 1.5 and 3 MiB/s on screen.
	within 1572864 "$(to_bytes "$rate" "${runit%/s}")" 3145728
	# The percent is the bytes shown over the 4 MiB that stdin holds.
	within -1 "$(awk -v b="$(to_bytes "$bytes" "$unit")" -v p="$pct" \
	    'BEGIN { print p - 100 * b / 4194304 }')" 1
	np_wait_for "$st" '^[0-9]+$'
	assert_equal "$(cat "$st")" 0
	screen=$(tmux_screen)
	# Redrawn in place: one progress line on the screen, the final one.
	assert_equal "$(grep -cE "$PROGRESS_RE" <<<"$screen")" 1
	grep -Eq '^4\.00 MiB [0-9.]+ (KiB|MiB)/s [0-9]+\.[0-9] s 100\.0% ETA 0 s$' \
	    <<<"$screen" || fail "no final progress line: $screen"
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

# prog_fits COLUMNS REGEX: true once the tmux screen holds one line, no
# wider than COLUMNS - 1, that matches REGEX, and no other line: nothing
# wrapped onto a second row.  The line goes to PROG_LINE.
prog_fits() {
	local screen
	screen=$(tmux_screen | sed '/^$/d')
	PROG_LINE=$screen
	[ "$(wc -l <<<"$screen")" = 1 ] && ((${#screen} < $1)) &&
	    grep -Eq "$2" <<<"$screen"
}

# prog_row_fits COLUMNS REGEX: as prog_fits, for the cursor's row only.
# A terminal made narrower reflows the line drawn before the program heard
# of it onto rows above; the program can only redraw its own row.
prog_row_fits() {
	local y
	y=$(timeout 10 tmux -S "$TMUX_SOCK" display-message -p '#{cursor_y}')
	PROG_LINE=$(timeout 10 tmux -S "$TMUX_SOCK" capture-pane -p -S "$y" \
	    -E "$y" | sed 's/ *$//')
	((${#PROG_LINE} < $1)) && grep -Eq "$2" <<<"$PROG_LINE"
}

@test "--progress in a 30-column terminal keeps to one line, and redraws at a new width" {
	local in cmd narrow
	command -v tmux >/dev/null || skip "tmux is not installed"
	in=$(np_random_file in 16M)
	np_nc_listen -n 127.0.0.1 0
	printf -v cmd '%q ' "${NP[@]}"
	# 16 s at 1 MiB/s: still drawing when the last check is made.
	cmd+="--progress --rate 1M -N 127.0.0.1 $NC_PORT <$in; exec cat"
	tmux_start "$cmd" 30
	# Bytes, rate and percent fit in 29 columns; elapsed time and ETA
	# are left out.  The old line wrapped onto a second row.
	narrow='^[0-9.]+ (KiB|MiB) [0-9.]+ (B|KiB|MiB)/s +[0-9]+\.[0-9]%$'
	np_until 10 prog_fits 30 "$narrow" ||
	    fail "no one-line progress in 30 columns: $PROG_LINE"
	# Wider: SIGWINCH, and the whole line comes back.
	timeout 10 tmux -S "$TMUX_SOCK" resize-window -x 80 -y 10
	np_until 10 prog_fits 80 "$PROGRESS_RE$PERCENT_RE" ||
	    fail "no full progress line in 80 columns: $PROG_LINE"
	# Narrower again: only the byte count is left in 12 columns.
	timeout 10 tmux -S "$TMUX_SOCK" resize-window -x 12 -y 10
	np_until 10 prog_row_fits 12 '^[0-9.]+ (KiB|MiB)$' ||
	    fail "no byte count alone in 12 columns: $PROG_LINE"
}

@test "--progress=always draws into a file: redrawn with CR at most 10 times a second, ends with a newline" {
	local in err=$BATS_TEST_TMPDIR/np.err final secs draws
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	np_io /dev/null /dev/null --progress=always --rate 4M \
	    --send-file "$in" 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(tail -c 1 "$err" | od -An -tx1 | tr -d ' ')" 0a
	final=$(last_record "$err")
	[[ $final =~ ^4\.00\ MiB\ [0-9.]+\ (KiB|MiB)/s\ ([0-9]+\.[0-9])\ s\ 100\.0%\ ETA\ 0\ s$ ]] ||
	    fail "final record: $final"
	secs=${BASH_REMATCH[2]}
	draws=$(tr -cd '\r' <"$err" | wc -c)
	# At most one redraw per 100 ms, plus the first one and the final one.
	((draws >= 2)) || fail "only $draws draws"
	within 2 "$draws" "$(awk -v s="$secs" 'BEGIN { print int(s * 10) + 3 }')"
	# Nothing but progress records on stderr.
	assert_equal "$(tr '\r' '\n' <"$err" | grep -v '^$' |
	    grep -cvE "$PROGRESS_RE")" 0
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--progress draws nothing when stderr is not a terminal" {
	local in
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	np_io "$in" /dev/null --progress -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--progress --size gives a pipe input a percent; without --size there is none" {
	local in err=$BATS_TEST_TMPDIR/np.err final
	in=$(np_random_file in 4M)
	np_nc_listen -n 127.0.0.1 0
	np_io <(cat "$in") /dev/null --progress=always --size 4M -N \
	    127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	final=$(last_record "$err")
	[[ $final =~ ^4\.00\ MiB\ .*\ 100\.0%\ ETA\ 0\ s$ ]] ||
	    fail "with --size: $final"
	np_status "$NC_PID"
	np_nc_listen -n 127.0.0.1 0
	np_io <(cat "$in") /dev/null --progress=always -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	final=$(last_record "$err")
	[[ $final =~ ^4\.00\ MiB\ [0-9.]+\ (KiB|MiB|GiB)/s\ [0-9]+\.[0-9]\ s$ ]] ||
	    fail "without --size: $final"
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--stats prints one line: bytes each way in binary units, seconds and rate" {
	local in
	in=$(np_random_file in 4M)
	NP_REPLY=1536 np_python_listen STREAM "$PY_READ_REPLY"
	np_io "$in" "$BATS_TEST_TMPDIR/reply" --stats -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(wc -l <<<"$NP_STDERR")" 1
	[[ $NP_STDERR =~ ^netpipe:\ sent\ 4\.00\ MiB,\ received\ 1\.50\ KiB\ in\ [0-9]+\.[0-9]{2}\ s,\ [0-9]+(\.[0-9]+)?\ (B|KiB|MiB|GiB)/s$ ]] ||
	    fail "stats line: $NP_STDERR"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/reply")" 1536
}

@test "--stats=json prints one object that python's json module reads, with exact counts" {
	local in
	in=$(np_random_file in 4M)
	NP_REPLY=3000 np_python_listen STREAM "$PY_READ_REPLY"
	np_io "$in" /dev/null --stats=json -N 127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$(wc -l <<<"$NP_STDERR")" 1
	run python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert set(d) == {"sent", "received", "seconds", "bytes_per_second"}, d
assert d["sent"] == 4194304 and type(d["sent"]) is int, d
assert d["received"] == 3000 and type(d["received"]) is int, d
assert 0 < d["seconds"] < 10, d
want = (d["sent"] + d["received"]) / d["seconds"]
assert abs(d["bytes_per_second"] - want) <= 1 + want / 1000, (d, want)
print("ok")' "$NP_STDERR"
	assert_success
	assert_output ok
}

@test "-v prints the summary line when the transfer ends" {
	local in
	in=$(np_random_file in 4M)
	np_listen_exec 127.0.0.1 0
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	run grep -E '^netpipe: sent' "$BATS_TEST_TMPDIR/listen.err"
	assert_output --regexp '^netpipe: sent 0 B, received 4\.00 MiB in [0-9]+\.[0-9]{2} s, [0-9.]+ (KiB|MiB|GiB)/s$'
	assert_equal "${#lines[@]}" 1
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

@test "a listener's --stats counts seconds from the connection, not from its start" {
	local err=$BATS_TEST_TMPDIR/listen.err
	np_listen_exec --stats=json 127.0.0.1 0
	# The peer arrives a second after the listener started.
	timeout 10 python3 -c '
import socket, sys, time
time.sleep(1)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"x" * 1048576)
c.close()' "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	run python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["received"] == 1048576, d
assert d["seconds"] < 0.5, "seconds %s include the wait for the peer" % d["seconds"]
print("ok")' "$(grep '^{' "$err")"
	assert_output ok
}

@test "--digest sha256 on both ends agrees with each other and with sha256sum" {
	local a b err=$BATS_TEST_TMPDIR/listen.err got=$BATS_TEST_TMPDIR/got
	a=$(np_random_file a 4M)
	b=$(np_random_file b 2M)
	NP_IN=$b np_listen_exec --digest sha256 --half-close -N 127.0.0.1 0
	# Both sides send while they receive; each ends once its input is
	# sent and the peer has finished too.
	np_io "$a" "$got" --digest sha256 --half-close -N 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(sed -n 's/^netpipe: sha256 sent //p' <<<"$NP_STDERR")" \
	    "$(np_sha "$a")"
	assert_equal "$(sed -n 's/^netpipe: sha256 received //p' <<<"$NP_STDERR")" \
	    "$(np_sha "$b")"
	assert_equal "$(sed -n 's/^netpipe: sha256 received //p' "$err")" \
	    "$(np_sha "$a")"
	assert_equal "$(sed -n 's/^netpipe: sha256 sent //p' "$err")" \
	    "$(np_sha "$b")"
	assert_equal "$(np_sha "$got")" "$(np_sha "$b")"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$a")"
}

@test "--digest sha256 of what netpipe sent matches what nc.openbsd received" {
	local in empty
	in=$(np_nul_file in 8)
	empty=$(np_sha /dev/null)
	np_nc_listen -n 127.0.0.1 0
	np_io "$in" /dev/null --digest sha256 -N 127.0.0.1 "$NC_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NC_PID"
	assert_equal "$NP_STDERR" "netpipe: sha256 sent $(np_sha "$BATS_TEST_TMPDIR/nc.out")
netpipe: sha256 received $empty"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--digest sha256 of what netpipe received from socat matches sha256sum" {
	local in out=$BATS_TEST_TMPDIR/out
	in=$(np_nul_file in 8)
	np_listen_exec --digest sha256 127.0.0.1 0
	timeout 10 socat -u "OPEN:$in" "TCP:127.0.0.1:$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(sed -n 's/^netpipe: sha256 received //p' \
	    "$BATS_TEST_TMPDIR/listen.err")" "$(np_sha "$in")"
	assert_equal "$(np_sha "$out")" "$(np_sha "$in")"
}

@test "--hex-dump logs a TCP exchange in both directions, as hexdump -C prints it" {
	local req=$BATS_TEST_TMPDIR/req hex=$BATS_TEST_TMPDIR/hex
	printf 'GET / HTTP/1.0\r\n\r\nping\0\001\002\177\200\377 pong\n' >"$req"
	np_python_listen STREAM '
c, a = s.accept()
while c.recv(65536):
    pass
c.sendall(b"HTTP/1.0 200 OK\r\n\r\n\x00\x01hello world\xfe\xff!")
c.close()
'
	np_io "$req" "$BATS_TEST_TMPDIR/reply" --hex-dump "$hex" -N \
	    127.0.0.1 "$PY_PORT"
	assert_equal "$NP_RC" 0
	assert_equal "$NP_STDERR" ""
	assert_equal "$(cat "$hex")" "\
> 34 bytes
00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 30 0d 0a  |GET / HTTP/1.0..|
00000010  0d 0a 70 69 6e 67 00 01  02 7f 80 ff 20 70 6f 6e  |..ping...... pon|
00000020  67 0a                                             |g.|
< 35 bytes
00000000  48 54 54 50 2f 31 2e 30  20 32 30 30 20 4f 4b 0d  |HTTP/1.0 200 OK.|
00000010  0a 0d 0a 00 01 68 65 6c  6c 6f 20 77 6f 72 6c 64  |.....hello world|
00000020  fe ff 21                                          |..!|"
	# The same columns as hexdump -C (without its closing offset line).
	assert_equal "$(sed -n '2,4p' "$hex")" "$(hexdump -C -v "$req" | sed '$d')"
	assert_equal "$(od -An -v -tx1 "$BATS_TEST_TMPDIR/reply" | tr -d ' \n')" \
	    "$(np_hex 'HTTP/1.0 200 OK\r\n\r\n\0\001hello world\376\377!')"
}

@test "--hex-dump writes one block per UDP datagram, a zero-length one included" {
	local hex=$BATS_TEST_TMPDIR/hex
	np_listen_exec -u --hex-dump "$hex" -W 3 127.0.0.1 0
	timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for d in (b"one", b"", b"three\x00three"):
    c.sendto(d, ("127.0.0.1", int(sys.argv[1])))' "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	# Offsets count the bytes of one direction across datagrams.
	assert_equal "$(cat "$hex")" "\
< 3 bytes
00000000  6f 6e 65                                          |one|
< 0 bytes
< 11 bytes
00000003  74 68 72 65 65 00 74 68  72 65 65                 |three.three|"
	assert_equal "$(od -An -v -tx1 "$BATS_TEST_TMPDIR/out" | tr -d ' \n')" \
	    "$(np_hex 'onethree\0three')"
}

@test "--hex-dump logs both directions of a Unix socket, each with its own offsets" {
	local sock=$BATS_TEST_TMPDIR/s.sock hex=$BATS_TEST_TMPDIR/hex
	local reply=$BATS_TEST_TMPDIR/reply
	printf 'pong\0\n' >"$reply"
	NP_IN=$reply np_listen_exec -U "$sock" --hex-dump "$hex" --half-close -N
	run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
c.sendall(b"unix socket request\x00\x01\x02 with NUL bytes\n")
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
print(got.hex())' "$sock"
	assert_success
	assert_output "$(np_hex 'pong\0\n')"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(awk '/^[<>] [0-9]+ bytes$/ { d = $1 } d == "<"' "$hex")" "\
< 38 bytes
00000000  75 6e 69 78 20 73 6f 63  6b 65 74 20 72 65 71 75  |unix socket requ|
00000010  65 73 74 00 01 02 20 77  69 74 68 20 4e 55 4c 20  |est... with NUL |
00000020  62 79 74 65 73 0a                                 |bytes.|"
	assert_equal "$(awk '/^[<>] [0-9]+ bytes$/ { d = $1 } d == ">"' "$hex")" "\
> 6 bytes
00000000  70 6f 6e 67 00 0a                                 |pong..|"
}

@test "--hex-dump to a path that cannot be written fails with exit 1 and one message" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" -l \
	    --hex-dump "$BATS_TEST_TMPDIR/no/such/dir" 127.0.0.1 0 </dev/null
	assert_equal "$stderr" \
	    "netpipe: $BATS_TEST_TMPDIR/no/such/dir: No such file or directory"
	assert_output ""
}

@test "--rate 1M caps what netpipe sends to within 5% over 3 s" {
	np_skip_timing_if_wrapped
	local in t0 t1
	in=$(np_random_file in 3M)
	np_nc_listen -n 127.0.0.1 0
	t0=$EPOCHREALTIME
	np_io "$in" /dev/null --rate 1M -N 127.0.0.1 "$NC_PORT"
	t1=$EPOCHREALTIME
	assert_equal "$NP_RC" 0
	within 0.95 "$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { print 3 / (b - a) }')" 1.05
	np_status "$NC_PID"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/nc.out")" "$(np_sha "$in")"
}

@test "--rate 1M caps what netpipe receives to within 5% over 3 s" {
	np_skip_timing_if_wrapped
	local in t0 t1
	in=$(np_random_file in 3M)
	np_listen_exec --rate 1M 127.0.0.1 0
	t0=$EPOCHREALTIME
	timeout 10 nc.openbsd -N 127.0.0.1 "$NP_PORT" <"$in"
	np_status "$NP_PID"
	t1=$EPOCHREALTIME
	assert_equal "$NP_STATUS" 0
	within 0.95 "$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { print 3 / (b - a) }')" 1.05
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

@test "--send-flags oob sends the last byte as TCP urgent data that python reads with MSG_OOB" {
	np_python_listen STREAM "$PY_OOB"
	run -0 --separate-stderr timeout 10 "${NP[@]}" --send-flags oob -N \
	    127.0.0.1 "$PY_PORT" < <(printf 'hello!')
	np_status "$PY_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/py.out")" \
	    "$(np_hex hello) $(np_hex '!')"
}

@test "urgent data from the peer arrives inline and in order through the copy loop" {
	np_listen_exec --io rw 127.0.0.1 0
	timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"abc")
c.send(b"!", socket.MSG_OOB)
c.sendall(b"def")
c.close()' "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" 'abc!def'
}

@test "urgent data from the peer arrives inline and in order when stdout is a file" {
	np_listen_exec 127.0.0.1 0
	timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"abc")
c.send(b"!", socket.MSG_OOB)
c.sendall(b"def")
c.close()' "$NP_PORT"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" 'abc!def'
}

# The -k listener sets SO_OOBINLINE once, on its own socket, and its
# peers' sockets take it from there; the splice path asks SIOCATMARK only
# after poll said POLLPRI.  Each peer's data and end are in before it is
# accepted, so the urgent byte that is last before the end is found by a
# splice that says 0, as at the end of the stream.
@test "a -k listener writing to a file gets every queued peer's urgent byte inline, the one last before the end too" {
	np_listen -k 127.0.0.1 0
	np_queued "$NP_PORT" "$NP_PID" \
	    'c.sendall(b"abc"); c.send(b"!", socket.MSG_OOB); c.sendall(b"def")' \
	    'c.sendall(b"ghi"); c.send(b"?", socket.MSG_OOB)' \
	    'c.send(b"#", socket.MSG_OOB)' \
	    'c.sendall(b"jkl")'
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection closed' 10 4
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" 'abc!defghi?#jkl'
}

@test "a client gets urgent data inline on its own socket, the byte last before the end too" {
	np_python_listen STREAM '
c, a = s.accept()
c.sendall(b"abc")
c.send(b"!", socket.MSG_OOB)
c.sendall(b"def")
c.send(b"?", socket.MSG_OOB)
c.close()
'
	timeout 10 "${NP[@]}" 127.0.0.1 "$PY_PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/out"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" 'abc!def?'
}

@test "--send-flags oob from netpipe to netpipe loses no byte" {
	local in
	in=$(np_random_file in 1M)
	np_listen_exec 127.0.0.1 0
	np_io "$in" /dev/null --send-flags oob -N 127.0.0.1 "$NP_PORT"
	assert_equal "$NP_RC" 0
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/out")" "$(np_sha "$in")"
}

@test "bad values for --stats, --progress, --digest, --send-flags, --rate and --size are usage errors" {
	np_fails 2 'netpipe: --stats: "xml" is invalid' --stats=xml 127.0.0.1 9
	np_fails 2 'netpipe: --progress: "sometimes" is invalid' \
	    --progress=sometimes 127.0.0.1 9
	np_fails 2 'netpipe: --digest: "md5" is invalid' --digest md5 \
	    127.0.0.1 9
	np_fails 2 'netpipe: --send-flags: "urg" is invalid' \
	    --send-flags urg 127.0.0.1 9
	np_fails 2 'netpipe: --rate: "10x" is invalid' --rate 10x 127.0.0.1 9
	np_fails 2 'netpipe: --rate: "0" is too small' --rate 0 127.0.0.1 9
	np_fails 2 'netpipe: --size: "1T" is invalid' --size 1T 127.0.0.1 9
}

@test "a bad --rate value is named whole in the message, suffix included" {
	np_fails 2 'netpipe: --rate: "1.5M" is invalid' --rate 1.5M 127.0.0.1 9
}
