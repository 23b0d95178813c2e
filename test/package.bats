#!/usr/bin/env bats
# The Debian package (issue 18): dpkg-buildpackage on a clean copy of the
# tree builds a .deb that installs the binary, the man page and the bash
# completion, declares what it links, and passes lintian without errors.
# One slow test: it builds the whole program once more.

load helpers

TOP=$BATS_TEST_DIRNAME/..
# Building and lintian take about 20 s here; a busy machine gets room.
# shellcheck disable=SC2034 # bats reads it
BATS_TEST_TIMEOUT=600

@test "dpkg-buildpackage on a copy of the tree builds a lintian-clean .deb whose netpipe runs" {
	local src=$BATS_TEST_TMPDIR/build/netpipe root=$BATS_TEST_TMPDIR/root
	local version arch deb tls
	# Only the tracked files, as a fresh clone has them; the package
	# lands in the parent directory, which is ours.
	mkdir -p "$src"
	git -C "$TOP" ls-files -z | tar -C "$TOP" --null -T - -cf - |
	    tar -C "$src" -xf -
	version=$(cd "$src" && dpkg-parsechangelog -S Version)
	arch=$(dpkg-architecture -q DEB_HOST_ARCH)
	deb=$BATS_TEST_TMPDIR/build/netpipe_${version}_$arch.deb
	(cd "$src" && timeout 500 dpkg-buildpackage -us -uc -b) \
	    >"$BATS_TEST_TMPDIR/build.log" 2>&1 ||
	    fail "dpkg-buildpackage failed: $(tail -20 "$BATS_TEST_TMPDIR/build.log")"
	# override_dh_auto_test keeps the bats suite out of the build.
	if grep -E 'test/run|bats ' "$BATS_TEST_TMPDIR/build.log"; then
		fail "the package build ran the test suite"
	fi
	[ -f "$deb" ] || fail "no $deb"
	run -0 dpkg-deb -f "$deb" Depends
	assert_output --regexp 'libbsd0'
	assert_output --regexp 'libmd0'
	assert_output --regexp 'libsodium23'
	dpkg -x "$deb" "$root"
	run -0 "$root/usr/bin/netpipe" --version
	assert_output "netpipe $version"
	[ -s "$root/usr/share/man/man1/netpipe.1.gz" ]
	[ -s "$root/usr/share/bash-completion/completions/netpipe" ]
	# Recommends names the package of the libtls soname netpipe opens.
	tls=$(grep -ao 'libtls\.so\.[0-9]*' "$root/usr/bin/netpipe" | head -n 1)
	[ -n "$tls" ] || fail "no libtls soname in the binary"
	run -0 dpkg-deb -f "$deb" Recommends
	assert_output "$(dpkg -S "*/$tls" | sed -n '1s/:.*//p')"
	run -0 timeout 300 lintian --fail-on error \
	    "$BATS_TEST_TMPDIR/build/netpipe_${version}_$arch.changes"
	refute_output --regexp '^E: '
}

# The Makefile links libbsd, libmd and libsodium statically by default: a
# client started per connection would otherwise pay the loader for three
# more objects and their relocations (issue 14; bench/conns).
@test "the default build needs no libbsd, libmd or libsodium shared object at run time" {
	run -0 readelf -d "$NETPIPE"
	assert_output --partial 'libc.so'
	refute_output --regexp 'NEEDED.*(libbsd|libmd|libsodium)'
	run -0 env LD_DEBUG=libs "$NETPIPE" --version
	refute_output --regexp 'calling init: .*(libbsd|libmd|libsodium)'
}
