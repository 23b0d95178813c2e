#!/usr/bin/env bats
# The documentation and the shell completion keep up with the binary
# (issue 7): every option `netpipe --help` lists is in netpipe.1 and in
# completions/netpipe.bash, the completion offers the right candidates, the
# man page lints clean, and `make install` installs the completion.

load helpers

TOP=$BATS_TEST_DIRNAME/..
MAN=$TOP/netpipe.1
COMPLETION=$TOP/completions/netpipe.bash

setup() {
	# shellcheck source=../completions/netpipe.bash
	source "$COMPLETION"
	COMP_FUNC=$(complete -p netpipe | sed -nE 's/.* -F ([^ ]+) .*/\1/p')
}

# comp WORD...: what the completion offers for the last WORD of the
# command line WORD..., one candidate a line, sorted.  Split "--opt=val"
# as bash does, into "--opt" "=" "val".
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	"$COMP_FUNC" netpipe "${COMP_WORDS[COMP_CWORD]}" \
	    "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

# The options `netpipe --help` lists, one a line: "-x" and "--long".
help_options() {
	"${NP[@]}" --help |
	    grep -oE '^[[:space:]]+(-[[:alnum:]], )?--[[:alnum:]-]+' |
	    tr -d ' ' | tr ',' '\n'
}

# python3: print each line of a .Dl or .Bd -literal display of the man page
# argv[1] that groff, at 78n (man at 80 columns), does not show whole, and
# each line of the page that is wider than 80 columns.
PY_LITERAL_WHOLE='
import re, subprocess, sys
src = open(sys.argv[1]).read().splitlines()
page = subprocess.run(["groff", "-mandoc", "-Tutf8", "-rLL=78n", "-P-cbou",
    sys.argv[1]], capture_output=True, text=True).stdout
page = page.translate({0x2010: "-", 0x2212: "-", 0x2018: "\x27",
    0x2019: "\x27"})
rows = [" ".join(l.split()) for l in page.splitlines()]
for l in page.splitlines():
    if len(l) > 80:
        print("wider than 80 columns: %s" % l.strip())
lit = False
for n, line in enumerate(src, 1):
    if line.startswith((".Bd -literal", ".Ed")):
        lit = line.startswith(".Bd")
        continue
    text = line[4:] if line.startswith(".Dl ") else line if lit else ""
    # Only plain text: a macro changes what is printed.
    if not text or text.startswith(".") or re.search(r"\b[A-Z][a-z] ", text):
        continue
    for esc, ch in (("\\e", "\\"), ("\\-", "-"), ("\\*(Lt", "<"),
            ("\\*(Gt", ">"), ("\\(aq", "\x27"), ("\\&", "")):
        text = text.replace(esc, ch)
    text = " ".join(text.split())
    if not any(text in r for r in rows):
        print("line %d wraps: %s" % (n, text))
'

@test "the completion is installed for netpipe by sourcing the script" {
	assert_equal "$COMP_FUNC" _netpipe
	run bash -n "$COMPLETION"
	assert_success
}

@test "completing netpipe --tl offers exactly the --tls options" {
	run comp netpipe --tl
	assert_output "--tls
--tls-alpn
--tls-ca
--tls-cert
--tls-key
--tls-name
--tls-noverify
--tls-pin"
}

@test "completing netpipe - offers every short option" {
	local all
	all=$(comp netpipe -)
	# nc.openbsd's letters and netpipe's -e and -F: none missing.
	assert_equal "$(printf -- '-%s\n' 4 6 b C D d e F h I i k l M m N n O P p \
	    q r S s T t U u V v W w X x Z z | grep -vxF -f <(echo "$all"))" ""
}

@test "completing --io, -X, -T, --digest and --send-flags offers their keywords" {
	run comp netpipe --io ''
	assert_output "auto
rw
send
zerocopy"
	run comp netpipe --io z
	assert_output zerocopy
	run comp netpipe -X ''
	assert_output "4
4a
5
connect"
	run comp netpipe --proxy-type c
	assert_output connect
	run comp netpipe -T af4
	assert_output "af41
af42
af43"
	run comp netpipe --tos low
	assert_output lowdelay
	run comp netpipe --digest ''
	assert_output sha256
	run comp netpipe --send-flags ''
	assert_output oob
	run comp netpipe --tls-alpn h
	assert_output "h2
http/1.0
http/1.1"
}

@test "completing --stats= and --progress= offers their keywords, split at = or not" {
	run comp netpipe --stats =
	assert_output "json
text"
	run comp netpipe --stats = j
	assert_output json
	run comp netpipe --progress =
	assert_output "always
auto
never"
	run comp netpipe --progress = al
	assert_output always
	run comp netpipe --passphrase =
	assert_output new
	# With "=" taken out of COMP_WORDBREAKS the word stays whole.
	run comp netpipe --progress=n
	assert_output never
	# Their value is optional and only taken after "=": a word after a
	# space is an operand, not a keyword.
	run comp netpipe --stats js
	refute_output json
}

@test "completing the argument of an option that takes a file offers file names" {
	local opt
	mkdir -p "$BATS_TEST_TMPDIR/files/alpine"
	touch "$BATS_TEST_TMPDIR/files/alpha.pem" "$BATS_TEST_TMPDIR/files/beta"
	cd "$BATS_TEST_TMPDIR/files"
	for opt in --send-file --output --hex-dump --tls-cert --tls-key \
	    --tls-ca --allow-file --deny-file; do
		run comp netpipe "$opt" al
		assert_output "alpha.pem
alpine"
		run comp netpipe "$opt" = b
		assert_output beta
	done
}

@test "completing the argument of an option that takes a number offers nothing" {
	mkdir -p "$BATS_TEST_TMPDIR/files"
	touch "$BATS_TEST_TMPDIR/files/1file"
	cd "$BATS_TEST_TMPDIR/files"
	run comp netpipe --rate 1
	assert_output ""
	run comp netpipe -w 1
	assert_output ""
	run comp netpipe --size 1
	assert_output ""
}

@test "completing the operand of -U offers socket paths" {
	mkdir -p "$BATS_TEST_TMPDIR/files"
	touch "$BATS_TEST_TMPDIR/files/app.sock"
	cd "$BATS_TEST_TMPDIR/files"
	run comp netpipe -lU ap
	assert_output app.sock
	run comp netpipe --unix ap
	assert_output app.sock
}

@test "every option netpipe --help lists is offered by the completion" {
	local help
	help=$(help_options | sort -u)
	# The list is not empty, and nothing in it is missing.
	(($(wc -l <<<"$help") > 30))
	assert_equal "$(comm -23 <(echo "$help") <(comp netpipe - | sort -u))" ""
}

@test "every option netpipe --help lists is documented in netpipe.1" {
	local documented
	# The spellings on the .It lines of the option list: "-l", "--listen".
	documented=$(grep '^\.It Fl' "$MAN" |
	    grep -oE 'Fl (\\-[[:alnum:]\\-]+|[[:alnum:]])' |
	    sed -E 's/^Fl //; s/\\//g; s/^/-/' | sort -u)
	assert_equal "$(comm -23 <(help_options | sort -u) <(echo "$documented"))" ""
}

@test "--help lists the transfer options of issues 3 and 7" {
	local opt help missing=()
	help=$(help_options)
	for opt in --io --send-file --output --rate --send-flags --progress \
	    --stats --digest --hex-dump --size; do
		grep -qxF -- "$opt" <<<"$help" || missing+=("$opt")
	done
	assert_equal "${missing[*]}" ""
}

@test "netpipe.1 is clean under mandoc -T lint -W warning" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -T lint -W warning "$MAN"
	assert_success
	assert_output ""
}

@test "netpipe.1 renders under groff at 80 columns without a warning, and no example wraps" {
	command -v groff >/dev/null || skip "groff is not installed"
	# man-db at MANWIDTH=80 gives groff a 78n line.
	run -0 groff -mandoc -Tutf8 -ww -z -rLL=78n "$MAN"
	assert_output ""
	# Every line of a .Dl or .Bd -literal display shows whole on one
	# line of the page (a wrapped one leaves, say, a port on its own).
	run -0 python3 -c "$PY_LITERAL_WHOLE" "$MAN"
	assert_output ""
}

@test "make install puts the completion under share/bash-completion and uninstall removes it" {
	local root=$BATS_TEST_TMPDIR/root
	local comp=$root/usr/share/bash-completion/completions/netpipe
	[ -x "$TOP/netpipe" ] || skip "netpipe is not built"
	# -o netpipe: install what is built, never rebuild it here.
	run timeout 30 make -s -C "$TOP" -o netpipe install DESTDIR="$root" \
	    PREFIX=/usr
	assert_success
	cmp "$COMPLETION" "$comp"
	assert_equal "$(stat -c %a "$comp")" 644
	[ -x "$root/usr/bin/netpipe" ]
	run timeout 30 make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/usr
	assert_success
	[ ! -e "$comp" ]
	[ ! -e "$root/usr/bin/netpipe" ]
}

@test "every -T keyword netpipe takes is named in netpipe.1, critical, inetcontrol and netcontrol too" {
	local kw missing=()
	for kw in lowdelay throughput reliability critical inetcontrol \
	    netcontrol ef af11 af23 af43 cs0 cs7; do
		# Taken: a scan of port 1 fails (1), a bad keyword would be 2.
		run timeout 10 "${NP[@]}" -T "$kw" -z -w 1 127.0.0.1 1
		[ "$status" -ne 2 ] || fail "-T $kw is refused"
	done
	for kw in lowdelay throughput reliability critical inetcontrol \
	    netcontrol ef af11 af43 cs0 cs7; do
		sed -n '/^\.It Fl T Ar keyword/,/^\.It Fl t /p' "$MAN" |
		    grep -qE "(^\.| )Cm $kw( |$)" || missing+=("$kw")
	done
	assert_equal "${missing[*]}" ""
}
