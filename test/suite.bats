#!/usr/bin/env bats
# The test suite's own tools (issue 13, item 5): the FIFO holder lives until
# it is killed, np_offline keeps name lookups on the machine,
# test/lint-tests finds the lookups that do not, and test/run runs what it
# is given.

load helpers

# A bats file for lint-tests: every line of "bad" looks a name up through
# the machine's resolver; no line of "good" does.  (TEST stands for the
# keyword, which bats would take for a test of this file.)
LINT_SAMPLE='
TEST "bad" {
	run -1 --separate-stderr timeout 10 "${NP[@]}" nosuch.invalid 9
	np_fails 1 "netpipe: x" -z no-such-host 80
	"${pre[@]}" "${NP[@]}" -v -l -s bad.example 0 &
	np_io /dev/null out -x bad-proxy.test:1080 127.0.0.1 80
	np_io /dev/null out -X 4 -x "127.0.0.1:$PX" socks4-dest 80
	why=$(python3 -c "
import socket
socket.getaddrinfo(\"bad-py.invalid\", 9)")
	nc.openbsd -N bad-nc.example.com 80 </dev/null
	np --allow=bad-allow.invalid -l 0
	echo x | np badpipe 80
}
TEST "good" {
	run -1 --separate-stderr np_offline timeout 10 "${NP[@]}" ok.invalid 9
	why=$(np_offline python3 -c "
import socket
socket.getaddrinfo(\"ok-py.invalid\", 9)")
	np_fails 2 "netpipe: conflict" -x proxy.invalid:1080 -l 127.0.0.1 1
	np_fails 1 "netpipe: x" -n numeric-only 80
	np_io /dev/null out -x "127.0.0.1:$PX" proxied.example 80
	np -X connect -x "127.0.0.1:$PX" example.org 443
	"${NP[@]}" --tls --tls-name name.test localhost "$PORT"
	"${NP[@]}" -lU sock.test
	np -e cat 127.0.0.1 80
	assert_equal "$stderr" "netpipe: getaddrinfo for host \"x.invalid\""
	ip netns exec "$NS" "${NP[@]}" -v other.invalid 80
	np -l 0 >in.test 2>err.com
}'

@test "an NP_HOLD holder keeps its FIFO open after the reader has gone" {
	local reader
	np_fifo_held hold.fifo
	cat "$FIFO" >/dev/null 3>&- &
	reader=$!
	np_track "$reader"
	# The holder's open(2) returns, and it execs, once cat has the FIFO.
	np_until 10 grep -qvx bash "/proc/$HOLDER_PID/comm"
	kill "$reader"
	np_wait_exit "$reader"
	# tail -f noticed the broken pipe within about a second and left.
	np_alive_for "$HOLDER_PID" 2500
}

@test "np_offline: only lo, a resolver at 127.0.0.1, the host's resolv.conf untouched" {
	local before
	np_need_offline
	before=$(cat /etc/resolv.conf)
	run -0 np_offline ip -o link show
	assert_equal "${#lines[@]}" 1
	[[ ${lines[0]} == '1: lo: <LOOPBACK,UP,'* ]]
	run -0 np_offline cat /etc/resolv.conf
	assert_output 'nameserver 127.0.0.1'
	assert_equal "$(cat /etc/resolv.conf)" "$before"
}

@test "lint-tests names each lookup outside a namespace, and only those" {
	local f=$BATS_TEST_TMPDIR/sample.bats
	printf '%s\n' "${LINT_SAMPLE//TEST/@test}" >"$f"
	run -1 "$BATS_TEST_DIRNAME/lint-tests" "$f"
	assert_equal "$output" "$(printf "$f:%s: resolves %s outside a namespace; run it under np_offline\n" \
	    3 nosuch.invalid 4 no-such-host 5 bad.example 6 bad-proxy.test \
	    7 socks4-dest 8 bad-py.invalid 11 bad-nc.example.com \
	    12 bad-allow.invalid 13 badpipe)"
}

@test "lint-tests passes the suite itself" {
	run -0 "$BATS_TEST_DIRNAME/lint-tests"
	assert_output ""
}

@test "test/run runs only the files and directories it is given" {
	local dir=$BATS_TEST_TMPDIR/t
	mkdir -p "$dir/sub"
	printf '@test "one" { true; }\n' >"$dir/one.bats"
	printf '@test "%s" { true; }\n' two three >"$dir/sub/two.bats"
	cd "$dir"
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --count one.bats
	assert_line --index 0 1
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --jobs 2 one.bats sub
	assert_line --partial 'ok 1 '
	assert_line '3 passed, 0 failed, 0 skipped'
	run -0 timeout 60 "$BATS_TEST_DIRNAME/run" --count
	assert_line --index 0 "$(bats --count "$BATS_TEST_DIRNAME")"
}

# lint_c_body NAME LINES: a KNF function NAME whose body is LINES lines.
lint_c_body() {
	local i
	printf 'static int\n%s(int x)\n{\n' "$1"
	for ((i = 1; i < $2; i++)); do
		printf '\tx++;\n'
	done
	printf '\treturn x;\n}\n\n'
}

@test "lint-code names a function body over 60 lines, KNF or not, and passes 60" {
	local f=$BATS_TEST_TMPDIR/long.c i
	{
		lint_c_body ok60 60
		lint_c_body long61 61
		printf 'static int one_line(int x) {\n'
		for ((i = 0; i < 70; i++)); do
			printf '\tx++;\n'
		done
		printf '}\n'
		printf 'static const int tab[] = {\n'
		for ((i = 0; i < 70; i++)); do
			printf '\t%d,\n' "$i"
		done
		printf '};\n'
	} >"$f"
	run -1 "$BATS_TEST_DIRNAME/lint-code" "$f"
	assert_equal "$output" "$f:67: function long61() is 61 lines long (at most 60)
$f:132: function one_line() is 70 lines long (at most 60)"
}

@test "lint-code names exit and err outside main unless memory ran out or the code is fuzz-only" {
	local f=$BATS_TEST_TMPDIR/exits.c
	cat >"$f" <<-'C'
	void
	f(struct o *o, int fd)
	{
		if (listen(fd, 5) == -1)
			err(1, "listen");
		if (fd > 9)
			errx(2, "too many");
		exit(0);
		verr(1, "%s", "v");
		verrx(1, "%s", "v");
		if ((p = malloc(9)) == NULL ||
		    (q = strdup("x")) == NULL)
			err(1, "f");
		if ((p = reallocarray(p, 2, 9)) == NULL) {
			free(q);
			err(1, NULL);
		}
		if (loop_fd(l, fd, 0, NULL, NULL) == -1)
			errx(1, "f: out of memory");
		if (grow(o) == -1)
			err(1, "calloc");
		/* a comment may say exit(1) and err(1, "x") */
		puts("exit(1); err(1, \"x\")");
		o->exit(1);
		_exit(127);
		errx(1, "a ( in a message");
		p = malloc(1);
	}
	#ifdef NP_FUZZ
	void g(void) { err(1, "socketpair"); }
	#endif
	#ifndef NP_FUZZ
	void h(void) { exit(3); }
	#else
	void i(void) { exit(4); }
	#endif
	#if defined(NP_FUZZ) && 1
	void j(void) { exit(5); }
	#endif
	C
	mkdir "$BATS_TEST_TMPDIR/main"
	printf 'int\nmain(void)\n{\n\texit(2);\n\terr(1, "x");\n}\n' \
	    >"$BATS_TEST_TMPDIR/main/netpipe.c"
	run -1 "$BATS_TEST_DIRNAME/lint-code" "$f" "$BATS_TEST_TMPDIR/main/netpipe.c"
	assert_equal "$output" "$(printf "$f:%s: %s() outside main, not for lack of memory: return an error\n" \
	    5 err 7 errx 8 exit 9 verr 10 verrx 26 errx 33 exit)"
}

@test "lint-code names an import cycle between objects with the symbols that make it" {
	local d=$BATS_TEST_TMPDIR
	printf 'int b_one(void);\nint a_one(void) { return b_one(); }\n' >"$d/a.c"
	printf 'int c_one(void);\nint b_one(void) { return c_one(); }\n' >"$d/b.c"
	printf 'int a_one(void);\nint c_one(void) { return a_one(); }\n' >"$d/c.c"
	printf 'int a_one(void);\nint d_one(void) { return a_one(); }\n' >"$d/d.c"
	for m in a b c d; do
		cc -c -o "$d/$m.o" "$d/$m.c"
	done
	run -1 "$BATS_TEST_DIRNAME/lint-code" "$d/a.o" "$d/b.o" "$d/c.o" "$d/d.o"
	assert_output "import cycle: a.o (b_one) -> b.o (c_one) -> c.o (a_one) -> a.o"
	# Without c the graph is a line: d uses a, a uses b.
	run -0 "$BATS_TEST_DIRNAME/lint-code" "$d/a.o" "$d/b.o" "$d/d.o"
	assert_output ""
	# An object older than its source would hide what changed.
	touch -d '1 hour ago' "$d/a.o"
	run -2 "$BATS_TEST_DIRNAME/lint-code" "$d/a.o" "$d/b.o"
	assert_output "$d/a.o: older than $d/a.c; run make first"
}

@test "lint-code names a fuzz target or link that catches exit" {
	local d=$BATS_TEST_TMPDIR/fuzz
	mkdir "$d"
	cat >"$d/fuzz_x.c" <<-'C'
	#include <setjmp.h>
	static jmp_buf back;
	void __wrap_exit(int c) { longjmp(back, 1); }
	int
	LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)
	{
		if (setjmp(back) == 0)
			parse(d, n);
		exit(0);
	}
	C
	printf 'FUZZ_WRAP = -Wl,--wrap=warn,--wrap=exit\n' >"$d/Makefile"
	run -1 "$BATS_TEST_DIRNAME/lint-code" "$d/fuzz_x.c" "$d/Makefile"
	assert_equal "$output" "$d/fuzz_x.c:3: fuzz target catches an exit (__wrap_exit)
$d/fuzz_x.c:3: fuzz target catches an exit (longjmp)
$d/fuzz_x.c:7: fuzz target catches an exit (setjmp)
$d/Makefile:1: the fuzz link wraps exit(); the parsers must return instead"
}

@test "lint-code passes the tree: its sources, objects, fuzz targets and Makefile" {
	local o top=$BATS_TEST_DIRNAME/..
	for o in $(sed -n 's/\.c\b/.o/g; /^SRCS/,/[^\\]$/p' "$top/Makefile" |
	    grep -o '[a-z_]*\.o'); do
		[ -f "$top/$o" ] || skip "$o is not built (make)"
	done
	run -0 "$BATS_TEST_DIRNAME/lint-code"
	assert_output ""
}
