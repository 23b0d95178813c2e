#!/usr/bin/env bats
# --pty (issue 18): -e and --sh-exec on a pseudo-terminal, and a client
# whose terminal goes raw for the session.  The interactive test runs the
# client in a real terminal under tmux.

load helpers

# tmux ARGS...: this test's own tmux server.
tm() {
	tmux -S "$BATS_TEST_TMPDIR/tmux" "$@"
}

# pane_has REGEX: the pane (with its history) has a line matching REGEX.
pane_has() {
	tm capture-pane -p -S - | grep -Eq -- "$1"
}

# np_pane_wait REGEX: wait (bounded) until the pane shows REGEX.
np_pane_wait() {
	np_until 10 pane_has "$1" && return
	echo "the pane never showed /$1/:" >&2
	tm capture-pane -p -S - >&2
	return 1
}

# The foreground "sleep 100" of the remote shell, stopped or not.
sleep_stat() {
	local pid
	pid=$(pgrep -s "$1" -x sleep) || return 1
	ps -o stat= -p "$pid"
}

# Whether the session SID has a sleep that is not a zombie.
sleep_alive() {
	ps -s "$1" -o stat=,comm= | awk '$1 !~ /^Z/ && $2 == "sleep"' |
	    grep -q .
}

sleep_runs_in_front() {
	[[ $(sleep_stat "$1") == *+* ]]
}

teardown() {
	tm kill-server 2>/dev/null || true
	np_cleanup
}

@test "--pty -e: the command has a terminal of its own, fixed at 24x80, as its controlling terminal in its own session" {
	np_listen_exec --pty --sh-exec 'tty; stty size; ps -o sid=,tty= -p $$;
	    echo "pid $$"' 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" \
	    </dev/null
	# The terminal turns each LF into CR LF.
	mapfile -t got < <(tr -d '\r' <<<"$output")
	[[ ${got[0]} =~ ^/dev/pts/([0-9]+)$ ]] || fail "tty said ${got[0]}"
	assert_equal "${got[1]}" "24 80"
	# ps: "SID pts/N", and the shell is the session's leader.
	read -r sid tty <<<"${got[2]}"
	assert_equal "$tty" "pts/${BASH_REMATCH[1]}"
	assert_equal "pid $sid" "${got[3]}"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
}

@test "--pty -e: a client's input reaches the shell, its EOF ends it, and the listener exits as the shell did" {
	np_listen_exec --pty -e /bin/sh 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" -N 127.0.0.1 \
	    "$NP_PORT" <<<'echo "sum $((6 * 7))"; [ -t 0 ] && echo "on a tty"'
	assert_line --partial "sum 42"
	assert_line --partial "on a tty"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
	np_listen_exec --pty --sh-exec 'exit 3' 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" </dev/null
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run grep -c '^Child [0-9]* exited with status 3$' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "--pty -e: a command that cannot start is reported on the listener's stderr" {
	np_listen_exec --pty -e /nonexistent/cmd 127.0.0.1 0
	run -0 timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" </dev/null
	assert_output ""
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 1
	run grep -c 'netpipe: exec /nonexistent/cmd: No such file or directory' \
	    "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}

@test "--pty -e: stopping the listener hangs up the command's terminal" {
	np_fifo_held in
	np_listen_exec --pty --sh-exec 'echo "pid $$"; sleep 100' 127.0.0.1 0
	timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" <"$FIFO" \
	    >"$BATS_TEST_TMPDIR/client.out" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/client.out" '^pid [0-9]+'
	sid=$(sed -nE 's/^pid ([0-9]+).*/\1/p' "$BATS_TEST_TMPDIR/client.out")
	np_until 10 pgrep -s "$sid" -x sleep
	kill -TERM "$NP_PID"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 143
	# The session's processes got SIGHUP from the hangup and are gone.
	np_until 10 eval "! pgrep -s $sid >/dev/null"
}

# sockets PID: how many sockets process PID holds.
sockets() {
	find "/proc/$1/fd" -lname 'socket:*' | wc -l
}

@test "--pty -e: the relay holds its connection alone, and the command holds no socket" {
	local relay cmd
	np_fifo_held in
	np_listen_exec -vv --pty --sh-exec 'echo "pid $$"; exec sleep 100' \
	    127.0.0.1 0
	timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" <"$FIFO" \
	    >"$BATS_TEST_TMPDIR/client.out" 3>&- &
	np_track $!
	np_wait_for "$BATS_TEST_TMPDIR/client.out" '^pid [0-9]+'
	relay=$(sed -nE 's/^Child ([0-9]+) started$/\1/p' \
	    "$BATS_TEST_TMPDIR/listen.err")
	cmd=$(sed -nE 's/^pid ([0-9]+).*/\1/p' "$BATS_TEST_TMPDIR/client.out")
	assert_equal "$(sockets "$relay")" 1
	assert_equal "$(sockets "$cmd")" 0
}

@test "--pty with a pipe on stdin leaves it alone: no terminal, no raw mode, no error" {
	np_listen --pty 127.0.0.1 0
	run -0 --separate-stderr timeout 10 "${NP[@]}" --pty -N 127.0.0.1 \
	    "$NP_PORT" <<<"plain"
	assert_equal "$stderr" ""
	np_wait_for "$BATS_TEST_TMPDIR/out" '^plain$'
}

@test "--pty in tmux: bash with job control through a raw client, and the terminal restored" {
	command -v tmux >/dev/null || skip "tmux is not installed"
	local t=$BATS_TEST_TMPDIR sid
	TERM=dumb np_listen_exec --pty \
	    -e '/bin/bash --norc --noprofile' 127.0.0.1 0 </dev/null
	cat >"$t/client.sh" <<-EOF
	stty -a >"$t/before"
	$(printf '%q ' "${NP[@]}") --pty 127.0.0.1 $NP_PORT
	echo "rc=\$?" >"$t/rc"
	stty -a >"$t/after"
	echo "client done"
	exec tail -f /dev/null
	EOF
	tm -f /dev/null new-session -d -x 100 -y 30 "bash $t/client.sh"
	np_pane_wait '[$#] ?$'
	tm send-keys 'tty' Enter
	np_pane_wait '^/dev/pts/[0-9]+$'
	tm send-keys 'stty size' Enter
	np_pane_wait '^24 80$'
	tm send-keys 'echo "sid $(ps -o sid= -p $$)"' Enter
	np_pane_wait '^sid +[0-9]+$'
	sid=$(tm capture-pane -p -S - | sed -nE 's/^sid +([0-9]+)$/\1/p')
	tm send-keys 'sleep 100' Enter
	np_until 10 sleep_runs_in_front "$sid"
	tm send-keys C-z
	np_pane_wait '^\[1\]\+ +Stopped +sleep 100$'
	[[ $(sleep_stat "$sid") == T* ]] || fail "sleep is $(sleep_stat "$sid")"
	tm send-keys 'kill -KILL %1' Enter
	np_until 10 eval "! sleep_alive $sid" || {
		tm capture-pane -p -S - >&2; ps -s "$sid" -o pid,stat,args >&2
		false; }
	# bash may take the SIGCHLD of a job killed while stopped inside the
	# kill builtin and leave it unreaped (seen 1 run in 12): an external
	# command makes it wait(2) for any child, and report the job.
	tm send-keys '/bin/true' Enter
	np_pane_wait '^\[1\]\+ +Killed +sleep 100$'
	tm send-keys 'exit' Enter
	np_pane_wait '^client done$'
	assert_equal "$(cat "$t/rc")" "rc=0"
	assert_equal "$(cat "$t/after")" "$(cat "$t/before")"
	np_status "$NP_PID"
	assert_equal "$NP_STATUS" 0
}

@test "--pty in tmux: the terminal is restored when the client is killed" {
	command -v tmux >/dev/null || skip "tmux is not installed"
	local t=$BATS_TEST_TMPDIR
	np_listen --pty 127.0.0.1 0
	cat >"$t/client.sh" <<-EOF
	stty -a >"$t/before"
	$(printf '%q ' "${NP[@]}") --pty 127.0.0.1 $NP_PORT </dev/tty &
	echo \$! >"$t/pid"
	wait \$!
	echo "rc=\$?" >"$t/rc"
	stty -a >"$t/after"
	echo "client done"
	exec tail -f /dev/null
	EOF
	tm -f /dev/null new-session -d -x 100 -y 30 "bash $t/client.sh"
	np_wait_for "$BATS_TEST_TMPDIR/listen.err" '^Connection received'
	# Raw: typed keys go out one by one, with no echo and no line editing.
	np_until 10 eval "! stty -F \$(tm display -p '#{pane_tty}') -a |
	    grep -q ' icanon'"
	kill -TERM "$(cat "$t/pid")"
	np_pane_wait '^client done$'
	assert_equal "$(cat "$t/rc")" "rc=143"
	assert_equal "$(cat "$t/after")" "$(cat "$t/before")"
}

@test "--pty with -z, -F, --broker or --chat is a usage error" {
	np_fails 2 'netpipe: --pty and -z cannot be used together' \
	    --pty -z 127.0.0.1 1
	np_fails 2 'netpipe: --pty and -F cannot be used together' \
	    --pty -F 127.0.0.1 1
	np_fails 2 'netpipe: --broker and --pty cannot be used together' \
	    --pty -l --broker 0
	np_fails 2 'netpipe: --chat and --pty cannot be used together' \
	    --pty -l --chat 0
}

@test "-k --max-conns 2 --pty: two peers at once, each on a terminal of its own" {
	local a b
	np_fifo_held in
	np_listen_exec -k --max-conns 2 --pty --sh-exec 'tty; read -r line' \
	    127.0.0.1 0
	for a in 1 2; do
		timeout 10 "${NP[@]}" 127.0.0.1 "$NP_PORT" <"$FIFO" \
		    >"$BATS_TEST_TMPDIR/client$a.out" 3>&- &
		np_track $!
	done
	np_wait_for "$BATS_TEST_TMPDIR/client1.out" '^/dev/pts/[0-9]+'
	np_wait_for "$BATS_TEST_TMPDIR/client2.out" '^/dev/pts/[0-9]+'
	a=$(tr -d '\r' <"$BATS_TEST_TMPDIR/client1.out")
	b=$(tr -d '\r' <"$BATS_TEST_TMPDIR/client2.out")
	[ "$a" != "$b" ] || fail "both peers got $a"
	run grep -c '^Peers connected: 2$' "$BATS_TEST_TMPDIR/listen.err"
	assert_output 1
}
