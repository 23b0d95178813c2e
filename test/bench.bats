#!/usr/bin/env bats
# The sections the bench scripts add to bench/RESULTS.md after bench/run
# has written it: each replaces its own section and nothing else, whatever
# order they run in.  Tried on a copy of RESULTS.md with a small table in
# place of a measured one (bench/lib's bench_section, the one step that
# writes); no bench is run.

load helpers

BENCH=$BATS_TEST_DIRNAME/../bench
# The scripts that add a section, in the order make bench runs them.
BENCH_ADDERS=(meter conns forward crypt)

# bh_heading SCRIPT: the heading SCRIPT gives bench_section.
bh_heading() {
	sed -nE "s/^bench_section '([^']+)'.*/\1/p" "$BENCH/$1"
}

# bh_sections FILE: one line for each "## " section of FILE (the text
# before the first as "(top)"), in order: its sha256 (trailing blank lines
# left out) and its heading.
bh_sections() {
	python3 -c '
import hashlib, sys
parts, cur = [], ["(top)", []]
for line in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if line.startswith("## "):
        parts.append(cur)
        cur = [line, []]
    cur[1].append(line)
parts.append(cur)
for head, lines in parts:
    body = "\n".join(lines).rstrip("\n")
    print(hashlib.sha256(body.encode()).hexdigest()[:16], head)
' "$1"
}

# bh_table SCRIPT: a stand-in for SCRIPT's measured table, under the
# heading its section has in RESULTS.md.
bh_table() {
	local h
	h=$(BH=$(bh_heading "$1") awk 'index($0, ENVIRON["BH"]) == 1 { print; exit }' \
	    "$BENCH/RESULTS.md")
	printf '\n%s\n\nA stand-in from test/bench.bats for bench/%s.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n' \
	    "$h" "$1"
}

# bh_changed BEFORE AFTER: the headings whose sections differ between two
# bh_sections lists of the same headings, one a line.
bh_changed() {
	paste -d'\t' "$1" "$2" | awk -F'\t' '{
		split($1, a, " "); split($2, b, " ")
		if (a[1] != b[1])
			print substr($1, length(a[1]) + 2)
	}'
}

@test "each bench script that adds a section names one that RESULTS.md has once" {
	local s h
	for s in "${BENCH_ADDERS[@]}"; do
		h=$(bh_heading "$s")
		[ -n "$h" ] || fail "bench/$s does not write through bench_section"
		[[ $h == "## "* ]]
		run grep -c "^$h" "$BENCH/RESULTS.md"
		assert_output 1
		run grep -c "^bench_section " "$BENCH/$s"
		assert_output 1
	done
}

@test "each bench script's section replaces only its own in a copy of RESULTS.md, in place, in any order" {
	local copy=$BATS_TEST_TMPDIR/RESULTS.md t=$BATS_TEST_TMPDIR s order
	# shellcheck source=../bench/lib
	source "$BENCH/lib"
	cp "$BENCH/RESULTS.md" "$copy"
	bh_sections "$copy" >"$t/before"
	# make bench's order, then the reverse: the bug was bench/forward, after
	# bench/crypt, dropping section 9 and all after it.
	for order in "meter conns forward crypt" "crypt forward conns meter"; do
		for s in $order; do
			bench_section "$(bh_heading "$s")" "$(bh_table "$s")" \
			    "$copy"
		done
		bh_sections "$copy" >"$t/after"
		# The same headings in the same order, and only the four changed.
		assert_equal "$(cut -d' ' -f2- "$t/after")" \
		    "$(cut -d' ' -f2- "$t/before")"
		run bh_changed "$t/before" "$t/after"
		assert_output "$(for s in "${BENCH_ADDERS[@]}"; do
			grep "^$(bh_heading "$s")" "$copy"
		done)"
		for s in "${BENCH_ADDERS[@]}"; do
			grep -qx "A stand-in from test/bench.bats for bench/$s." \
			    "$copy"
		done
		sha256sum "$copy" | cut -d' ' -f1 >>"$t/shas"
	done
	# The second round put back the same tables: the same file.
	assert_equal "$(sort -u "$t/shas" | wc -l)" 1
}

@test "a section RESULTS.md lacks goes at its end after one blank line, and the rest is kept" {
	local copy=$BATS_TEST_TMPDIR/RESULTS.md h
	# shellcheck source=../bench/lib
	source "$BENCH/lib"
	h=$(bh_heading crypt)
	# RESULTS.md without the crypt section, as bench/run leaves it.
	awk -v h="$h" 'index($0, h) == 1 { exit } { print }' \
	    "$BENCH/RESULTS.md" >"$copy"
	cp "$copy" "$BATS_TEST_TMPDIR/without"
	BENCH_RESULTS=$copy bench_section "$h" "$(bh_table crypt)"
	run diff "$BATS_TEST_TMPDIR/without" "$copy"
	assert_output --partial "> A stand-in from test/bench.bats for bench/crypt."
	# Only lines added, after the last line that was there.
	run grep -c '^[<c]' <(diff "$BATS_TEST_TMPDIR/without" "$copy")
	assert_output 0
	tail -n 7 "$copy" | head -n 1 | grep -q "^$h"
	[ -z "$(tail -n 8 "$copy" | head -n 1)" ]
}

@test "no bench script deletes to the end of RESULTS.md; bench/run alone writes it whole" {
	run grep -lE ',\$d|>[[:space:]]*bench/RESULTS\.md' "$BENCH"/*
	assert_output ""
}
