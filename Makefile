# netpipe - a netcat for scripts, listeners and fast file copies.

PREFIX ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

BSD_CFLAGS != $(PKG_CONFIG) --cflags libbsd-overlay 2>/dev/null || true
BSD_LIBS != $(PKG_CONFIG) --libs libbsd-overlay 2>/dev/null || echo -lbsd
TLS_CFLAGS != $(PKG_CONFIG) --cflags libtls 2>/dev/null || true
SODIUM_LIBS != $(PKG_CONFIG) --libs libsodium 2>/dev/null || echo -lsodium
# libtls is opened with dlopen(3) when --tls is used, so it is not linked:
# only its headers and its soname are needed here.
TLS_SONAME != readelf -d "$$($(PKG_CONFIG) --variable=libdir libtls)/libtls.so" \
	2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p'

CRYPTO_SONAME != readelf -d "$$($(PKG_CONFIG) --variable=libdir libcrypto)/libcrypto.so" \
	2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p'

WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
NP_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(BSD_CFLAGS) $(TLS_CFLAGS) \
	-DNP_TLS_SONAME='"$(TLS_SONAME)"' -DNP_CRYPTO_SONAME='"$(CRYPTO_SONAME)"'
# libbsd, libmd and libsodium go in statically by default.  netpipe
# takes a few small functions from libbsd and libmd (strlcpy, strtonum,
# readpassphrase, SHA-256) and, for --passphrase alone, some of
# libsodium's; loading them as shared objects costs ld.so some 200 symbol
# bindings and relocations for each: about half the instructions of a
# client started per connection (bench/conns), whether it uses them or
# not.  libc stays shared.  The Debian package links them as shared
# libraries (debian/rules: NP_STATIC=0), so that their security updates
# reach netpipe.
NP_STATIC ?= 1
STATIC_LINK_1 = -Wl,-Bstatic $(BSD_LIBS) -lmd $(SODIUM_LIBS) -Wl,-Bdynamic
STATIC_LINK_0 = $(BSD_LIBS) -lmd $(SODIUM_LIBS)
NP_LIBS = $(STATIC_LINK_$(NP_STATIC)) -ldl -pthread

SRCS = filter.c loop.c netpipe.c options.c pp.c proxy.c scan.c sock.c sockopt.c session.c \
	stats.c tls.c transfer.c acl.c broker.c chat.c exec.c pty.c writer.c xfer.c \
	dial.c dir.c endpoint.c forward.c resume.c resume_wire.c sha.c
OBJS = $(SRCS:.c=.o)
SAN_OBJS = $(SRCS:.c=.san.o)

# Debian package names for everything the build and the test suite use.
DEPS = build-essential libbsd-dev libmd-dev libtls-dev pkg-config mandoc bats \
	bats-assert bats-support netcat-openbsd socat ncat openssl python3 \
	iproute2 procps strace valgrind parallel iperf3 time \
	dante-server microsocks tinyproxy clang libclang-rt-14-dev tmux \
	openssh-server openssh-client git rsync nginx-light haproxy groff-base \
	dpkg-dev debhelper fakeroot lintian libsodium-dev bash-completion \
	redis-server redis-tools curl python3-spake2 python3-cryptography

BATS_FLAGS ?= --jobs 4

.PHONY: all deps check sanitize valgrind bench fuzz install uninstall clean lint \
	lint-code lint-tests

all: netpipe

netpipe: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(NP_LIBS)

.SUFFIXES: .c .o
.c.o:
	$(CC) $(CFLAGS) $(HARDEN) $(NP_CFLAGS) -c -o $@ $<

acl.o: acl.c netpipe.h Makefile
broker.o: broker.c netpipe.h Makefile
chat.o: chat.c netpipe.h Makefile
dial.o: dial.c netpipe.h Makefile
dir.o: dir.c netpipe.h Makefile
exec.o: exec.c netpipe.h Makefile
forward.o: forward.c netpipe.h Makefile
filter.o: filter.c netpipe.h Makefile
loop.o: loop.c netpipe.h Makefile
netpipe.o: netpipe.c netpipe.h Makefile
options.o: options.c netpipe.h Makefile
pp.o: pp.c netpipe.h Makefile
proxy.o: proxy.c netpipe.h Makefile
pty.o: pty.c netpipe.h Makefile
resume.o: resume.c netpipe.h Makefile
resume_wire.o: resume_wire.c netpipe.h Makefile
sha.o: sha.c netpipe.h Makefile
scan.o: scan.c netpipe.h Makefile
sock.o: sock.c netpipe.h Makefile
sockopt.o: sockopt.c netpipe.h Makefile
session.o: session.c netpipe.h Makefile
stats.o: stats.c netpipe.h Makefile
tls.o: tls.c netpipe.h Makefile
transfer.o: transfer.c netpipe.h Makefile
writer.o: writer.c netpipe.h Makefile
xfer.o: xfer.c netpipe.h Makefile

# The sanitizer build keeps separate objects so that it never mixes with
# the optimised binary.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
%.san.o: %.c netpipe.h Makefile
	$(CC) $(SAN_FLAGS) $(NP_CFLAGS) -c -o $@ $<

netpipe-san: $(SAN_OBJS)
	$(CC) $(SAN_FLAGS) -o $@ $(SAN_OBJS) $(NP_LIBS)

deps:
	@missing=""; for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
		    grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "all dependencies are installed"; \
	fi

# groff is what man-db renders with; at 80 columns (MANWIDTH=80) its
# line is 78n long.  It exits 0 after a warning, so its output decides.
lint: lint-code
	mandoc -T lint -W warning netpipe.1
	@out=$$(groff -mandoc -Tutf8 -ww -z -rLL=78n netpipe.1 2>&1); \
	    [ -z "$$out" ] || { echo "$$out"; exit 1; }

# The code rules a compiler does not check (issue 14): no function body
# over 60 lines, no exit or err outside main but for want of memory, no
# import cycle between the objects (read with nm, hence the build).
lint-code: $(OBJS)
	./test/lint-code

# No test may ask the machine's resolver about a name: that query leaves
# the machine.  Such a lookup runs under np_offline (test/helpers.bash).
lint-tests:
	./test/lint-tests

# C tests of APIs that no command line reaches on its own (xfer.c): the
# program's objects without main.
TEST_OBJS = $(filter-out netpipe.o,$(OBJS))
TEST_SAN_OBJS = $(filter-out netpipe.san.o,$(SAN_OBJS))
test/xfer_test: test/xfer_test.c $(TEST_OBJS)
	$(CC) $(CFLAGS) $(NP_CFLAGS) -I. -o $@ test/xfer_test.c $(TEST_OBJS) \
	    $(NP_LIBS)
test/xfer_test-san: test/xfer_test.c $(TEST_SAN_OBJS)
	$(CC) $(SAN_FLAGS) $(NP_CFLAGS) -I. -o $@ test/xfer_test.c \
	    $(TEST_SAN_OBJS) $(NP_LIBS)

check: netpipe lint lint-tests test/xfer_test
	timeout 120 ./test/xfer_test
	./test/run $(BATS_FLAGS)

sanitize: netpipe-san test/xfer_test-san
	timeout 300 ./test/xfer_test-san
	NETPIPE=$(CURDIR)/netpipe-san ./test/run $(BATS_FLAGS)

valgrind: netpipe test/xfer_test
	timeout 600 valgrind -q --error-exitcode=99 --leak-check=full \
	    ./test/xfer_test
	NETPIPE_WRAP="valgrind -q --error-exitcode=99 --leak-check=full" \
	    BATS_TEST_TIMEOUT=180 ./test/run $(BATS_FLAGS)

install: netpipe
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	install -m 755 netpipe $(DESTDIR)$(PREFIX)/bin/netpipe
	install -m 644 netpipe.1 $(DESTDIR)$(MANPREFIX)/man1/netpipe.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 completions/netpipe.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/netpipe

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/netpipe $(DESTDIR)$(MANPREFIX)/man1/netpipe.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/netpipe

bench: netpipe
	./bench/run
	./bench/meter
	./bench/conns
	./bench/forward
	./bench/crypt

# libFuzzer targets link the whole program with main renamed, so every
# parser is reachable.  The parsers return their errors; only warnings
# are wrapped, to keep a fuzzed broker quiet.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = options filter acl proxy chat sockopt resume pp
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE $(BSD_CFLAGS) \
	$(TLS_CFLAGS) -Dmain=np_main -DNP_FUZZ -Wno-missing-prototypes
FUZZ_WRAP = -Wl,--wrap=warn,--wrap=warnx

fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/common.c fuzz/common.h $(SRCS) netpipe.h \
    Makefile
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< fuzz/common.c $(SRCS) $(FUZZ_WRAP) \
	    $(NP_LIBS)

fuzz: $(FUZZ_TARGETS:%=fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		echo "fuzz $$t for $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=0 ./fuzz/fuzz_$$t \
		    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/ \
		    -print_final_stats=1 fuzz/corpus/$$t test/fuzz/$$t \
		    >fuzz/$$t.log 2>&1 || { tail -40 fuzz/$$t.log; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|Done)' fuzz/$$t.log; \
	done

clean:
	rm -f netpipe netpipe-san $(OBJS) $(SAN_OBJS) test/xfer_test \
	    test/xfer_test-san \
	    $(FUZZ_TARGETS:%=fuzz/fuzz_%) fuzz/*.log fuzz/crash-* \
	    fuzz/leak-* fuzz/timeout-* fuzz/oom-*
	rm -rf fuzz/corpus
