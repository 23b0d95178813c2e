#!/usr/bin/env bats
# netpipe where scripts run a netcat (issue 13, SPEC section 2): as git's
# core.gitProxy against a real git daemon, as ssh's ProxyCommand against a
# real sshd, directly and through a SOCKS5 proxy (microsocks), and in a
# two-way FIFO relay to a socat echo service.  Each parent closes its pipes
# when it has what it wanted, and that must not make netpipe fail.  Each
# case runs with nc.openbsd in netpipe's place too: the set-up is sound
# when nc passes it.  The servers run under socat, as inetd would run them
# (git daemon --inetd, sshd -i), on ports the kernel chose.

load helpers

# A bare repository with a 2 MiB binary file, and ssh keys; made once.
setup_file() {
	local src=$BATS_FILE_TMPDIR/src
	export DI_DIR=$BATS_FILE_TMPDIR
	git init -q --bare "$DI_DIR/repo.git"
	git init -q "$src"
	head -c 2M /dev/urandom >"$src/blob"
	git -C "$src" add blob
	git -C "$src" -c user.name=t -c user.email=t@localhost \
	    commit -qm blob
	git -C "$src" push -q "$DI_DIR/repo.git" HEAD:master
	ssh-keygen -q -t ed25519 -N '' -f "$DI_DIR/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$DI_DIR/user_key"
}

# di_inetd CMD: socat on 127.0.0.1, on a port the kernel chooses, running
# CMD on each connection (stdin and stdout a socket pair, as inetd does).
# Sets DI_PORT.
di_inetd() {
	local err=$BATS_TEST_TMPDIR/inetd.err
	: >"$err"
	socat -d -d TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork "EXEC:$1" \
	    2>"$err" 3>&- &
	np_track $!
	np_wait_for "$err" 'listening on .*:[0-9]+$' || return 1
	DI_PORT=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' "$err")
}

# di_proxy_script PATH CMD...: a proxy command at PATH that runs CMD with
# its own arguments appended, ignoring the SIGHUP that ssh sends it on
# exit, and writes CMD's exit status to PATH.rc.
di_proxy_script() {
	local path=$1
	shift
	{
		echo '#!/bin/sh'
		echo "trap '' HUP"
		printf '%q ' "$@"
		echo '"$@"'
		echo "echo \$? >$(printf %q "$path.rc")"
	} >"$path"
	chmod +x "$path"
}

# di_git_clone CMD...: clone repo.git from a git daemon with core.gitProxy
# running CMD HOST PORT; git and the proxy exit 0, say nothing, and the
# file arrives intact.
di_git_clone() {
	local proxy=$BATS_TEST_TMPDIR/gitproxy clone=$BATS_TEST_TMPDIR/clone
	di_inetd "git daemon --inetd --base-path=$DI_DIR --export-all $DI_DIR"
	di_proxy_script "$proxy" "$@"
	run -0 --separate-stderr timeout 30 git -c core.gitProxy="$proxy" \
	    clone -q "git://127.0.0.1:$DI_PORT/repo.git" "$clone"
	assert_equal "$stderr" ""
	np_wait_for "$proxy.rc" '^[0-9]+$'
	assert_equal "$(cat "$proxy.rc")" 0
	assert_equal "$(np_sha "$clone/blob")" \
	    "$(git -C "$DI_DIR/repo.git" cat-file blob HEAD:blob | np_sha /dev/stdin)"
}

# di_sshd: sshd -i for root with the throw-away keys, under di_inetd.
di_sshd() {
	local conf=$BATS_TEST_TMPDIR/sshd_config
	[ "$(id -u)" = 0 ] || skip "sshd -i needs root here"
	mkdir -p /run/sshd
	printf '%s\n' "HostKey $DI_DIR/host_key" \
	    "AuthorizedKeysFile $DI_DIR/user_key.pub" \
	    'PermitRootLogin prohibit-password' 'PasswordAuthentication no' \
	    'KbdInteractiveAuthentication no' 'UsePAM no' 'StrictModes no' \
	    'PidFile none' 'LogLevel ERROR' >"$conf"
	di_inetd "/usr/sbin/sshd -i -f $conf"
}

# di_ssh PROXYCMD...: through ssh with ProxyCommand "PROXYCMD %h %p",
# 4 MiB go up into a file and 4 MiB come down; ssh and the proxy exit 0,
# nothing is said on stderr, and both files arrive intact.
di_ssh() {
	local proxy=$BATS_TEST_TMPDIR/sshproxy up down
	local got=$BATS_TEST_TMPDIR/got err=$BATS_TEST_TMPDIR/ssh.err rc=0
	up=$(np_random_file up 4M)
	down=$(np_random_file down 4M)
	di_proxy_script "$proxy" "$@"
	timeout 30 ssh -F /dev/null -i "$DI_DIR/user_key" \
	    -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o ProxyCommand="$proxy %h %p" -p "$DI_PORT" root@127.0.0.1 \
	    "cat >$BATS_TEST_TMPDIR/up.got; cat $down" \
	    <"$up" >"$got" 2>"$err" || rc=$?
	# root's remote shell reads ~/.bashrc, whose "pyenv init" rehashes
	# and says so when another test's shell holds pyenv's lock.
	assert_equal "$(grep -v '^pyenv: cannot rehash: ' "$err")" ""
	assert_equal "$rc" 0
	np_wait_for "$proxy.rc" '^[0-9]+$'
	assert_equal "$(cat "$proxy.rc")" 0
	assert_equal "$(np_sha "$got")" "$(np_sha "$down")"
	assert_equal "$(np_sha "$BATS_TEST_TMPDIR/up.got")" "$(np_sha "$up")"
}

# di_microsocks: microsocks (SOCKS5, no authentication) on 127.0.0.1, on a
# port the kernel chooses.  Sets DI_SOCKS.
di_microsocks() {
	local pid
	microsocks -i 127.0.0.1 -p 0 >"$BATS_TEST_TMPDIR/microsocks.log" \
	    2>&1 3>&- &
	pid=$!
	np_track "$pid"
	np_until 10 np_ss_port "$pid" || fail "microsocks is not listening"
	DI_SOCKS=$NP_SS_PORT
}

# di_relay FIRST SECOND: the two-way relay `FIRST -l 127.0.0.1 0 <fifo |
# SECOND -N 127.0.0.1 ECHO >fifo` in front of a socat echo service.  A
# client sends 4 MiB, reads all of it back and closes; both stages exit 0
# and say nothing.  FIRST and SECOND are commands (words split).
di_relay() {
	local fifo=$BATS_TEST_TMPDIR/relay.fifo st=$BATS_TEST_TMPDIR/status
	local e1=$BATS_TEST_TMPDIR/l1.err e2=$BATS_TEST_TMPDIR/l2.err data echo
	local port
	data=$(np_random_file data 4M)
	di_inetd cat
	echo=$DI_PORT
	mkfifo "$fifo"
	: >"$e1"
	bash -c '$1 -v -l 127.0.0.1 0 <"$3" 2>"$4" |
	    $2 -N 127.0.0.1 "$6" >"$3" 2>"$5"
	    echo "${PIPESTATUS[@]}" >"$7"' _ "$1" "$2" "$fifo" "$e1" "$e2" \
	    "$echo" "$st" 3>&- &
	np_track $!
	np_wait_for "$e1" '^Listening on ' || return 1
	port=$(sed -nE 's/^Listening on .* ([0-9]+)$/\1/p' "$e1")
	run -0 timeout 30 python3 -c '
import hashlib, socket, sys, threading
d = open(sys.argv[2], "rb").read()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
threading.Thread(target=c.sendall, args=(d,), daemon=True).start()
h, n = hashlib.sha256(), 0
while n < len(d):
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
c.close()' "$port" "$data"
	assert_output "4194304 $(np_sha "$data")"
	np_wait_for "$st" '^[0-9]+ [0-9]+$' 20
	assert_equal "$(cat "$st")" "0 0"
	assert_equal "$(cat "$e2")" ""
	# Stage one's -v lines, and no complaint.
	run grep -v -e '^Listening on ' -e '^Connection received on ' \
	    -e '^netpipe: sent ' "$e1"
	assert_output ""
}

@test "git clone through core.gitProxy running netpipe gets the whole repository, exit 0" {
	di_git_clone "${NP[@]}"
}

@test "git clone through core.gitProxy running nc.openbsd (the set-up is sound)" {
	di_git_clone nc.openbsd
}

@test "ssh with ProxyCommand netpipe to sshd moves 4 MiB each way, ssh and netpipe exit 0" {
	di_sshd
	di_ssh "${NP[@]}"
}

@test "ssh with ProxyCommand netpipe -X 5 -x through microsocks to sshd, exit 0" {
	di_sshd
	di_microsocks
	di_ssh "${NP[@]}" -X 5 -x "127.0.0.1:$DI_SOCKS"
}

@test "ssh with ProxyCommand nc.openbsd, directly and through microsocks (the set-up is sound)" {
	di_sshd
	di_ssh nc.openbsd
	di_microsocks
	di_ssh nc.openbsd -X 5 -x "127.0.0.1:$DI_SOCKS"
}

@test "a FIFO relay netpipe -l | netpipe -N to a socat echo service echoes every byte and both stages exit 0" {
	di_relay "${NP[*]}" "${NP[*]}"
}

@test "the same FIFO relay with nc.openbsd (the set-up is sound)" {
	di_relay nc.openbsd nc.openbsd
}
