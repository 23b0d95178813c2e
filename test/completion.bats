#!/usr/bin/env bats
# Bash completion as a user gets it (issue 13, item 4): a bash with the
# bash-completion package loaded, then completions/netpipe.bash, asked
# for candidates the way readline asks (COMP_WORDS, COMP_CWORD, then the
# function that `complete -p netpipe` names), and COMPREPLY read back.

load helpers

TOP=$BATS_TEST_DIRNAME/..
BASH_COMPLETION=/usr/share/bash-completion/bash_completion

setup() {
	[ -r "$BASH_COMPLETION" ] ||
	    skip "bash-completion is not installed (make deps)"
}

# comp WORD...: what the completion offers for the last WORD of the
# command line WORD..., one candidate a line, sorted.
comp() {
	bash --norc --noprofile -c '
		. "$1" || exit 1
		. "$2" || exit 1
		shift 2
		func=$(complete -p netpipe | sed -nE "s/.* -F ([^ ]+) .*/\1/p")
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		"$func" netpipe "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' comp "$BASH_COMPLETION" "$TOP/completions/netpipe.bash" "$@" |
	    sed '/^$/d' | sort
}

@test "with bash-completion loaded, netpipe's own completion is the one used" {
	run -0 bash --norc --noprofile -c '. "$1"; . "$2"; complete -p netpipe' \
	    comp "$BASH_COMPLETION" "$TOP/completions/netpipe.bash"
	assert_output 'complete -F _netpipe netpipe'
}

@test "after -U, -Ul, -lU, -l -U and --unix the operand completes to paths, not hosts" {
	local words
	mkdir -p "$BATS_TEST_TMPDIR/files"
	touch "$BATS_TEST_TMPDIR/files/localsock"
	cd "$BATS_TEST_TMPDIR/files"
	# "local" is also the start of localhost, which a host completion
	# would offer.
	for words in "-U" "-Ul" "-lU" "-l -U" "-uUl" "--unix" "-v --unix"; do
		# shellcheck disable=SC2086
		run comp netpipe $words local
		assert_output localsock
	done
	# Without -U it is a host, and a file of that name is not offered.
	run comp netpipe -l local
	refute_output localsock
	run comp netpipe --udp local
	refute_output localsock
}

@test "--sockopt offers every name of sockopt.c's option table" {
	local names offered
	# The rows of sockopt_rows[]: { "name", ...
	names=$(sed -n '/sockopt_rows\[\] = {/,/^};/p' "$TOP/sockopt.c" |
	    sed -nE 's/^[[:space:]]*\{ "([^"]+)",.*/\1/p' | sort -u)
	(($(wc -l <<<"$names") >= 20))
	offered=$(comp netpipe --sockopt '' | sed 's/=$//' | sort -u)
	assert_equal "$offered" "$names"
	run comp netpipe --sockopt min
	assert_output minttl=
	run comp netpipe --sockopt = pri
	assert_output priority=
	run comp netpipe --sockopt br
	assert_output broadcast
}
