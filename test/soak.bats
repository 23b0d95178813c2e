#!/usr/bin/env bats
# Soak (issue 8): a -k listener takes thousands of short connections
# while 64 MiB bulk transfers run at the same time through other netpipe
# listeners.  The listener's descriptors and resident memory are sampled
# before and after and printed; neither may grow.  NP_SOAK_SECONDS (45 by
# default) bounds how long the short connections go on.

load helpers

NP_SOAK_SECONDS=${NP_SOAK_SECONDS:-45}
BATS_TEST_TIMEOUT=$((NP_SOAK_SECONDS + 60))

# Short clients, in four threads, to 127.0.0.1 port argv[1] for argv[2]
# seconds at about 120 connections a second (at most 20000).  Each sends
# "short N" and closes; every 25th resets instead, sending nothing.
# After the first 200 it writes the file argv[3] and waits (bounded) for
# argv[4] to appear, so that the listener can be measured warm.  Prints
# "SENT RESETS FAILED".
PY_SHORT_CLIENTS='
import os, socket, struct, sys, threading, time
port, secs, warm, go = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], \
    sys.argv[4]
THREADS, RATE, WARM, MAX = 4, 120.0, 200, 20000
lock = threading.Lock()
count = {"n": 0, "sent": 0, "resets": 0, "failed": 0}
def one(n):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        if n % 25 == 24:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                struct.pack("ii", 1, 0))
            c.close()
            return "resets"
        c.sendall(b"short %d\n" % n)
        c.close()
        return "sent"
    except OSError as e:
        print("connection %d: %s" % (n, e), file=sys.stderr)
        return "failed"
def take():
    with lock:
        if count["n"] >= MAX:
            return None
        count["n"] += 1
        return count["n"] - 1
def run(stop, limit):
    t0 = time.monotonic()
    done = 0
    while time.monotonic() < stop:
        n = take()
        if n is None or n >= limit:
            return
        r = one(n)
        with lock:
            count[r] += 1
        done += 1
        # Pace each thread at RATE / THREADS connections a second.
        wait = t0 + done * THREADS / RATE - time.monotonic()
        if wait > 0:
            time.sleep(wait)
def phase(secs, limit):
    stop = time.monotonic() + secs
    ts = [threading.Thread(target=run, args=(stop, limit))
        for i in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
phase(30, WARM)
with open(warm, "w") as f:
    f.write("%d\n" % count["n"])
for i in range(1000):
    if os.path.exists(go):
        break
    time.sleep(0.02)
phase(secs, MAX)
print(count["sent"], count["resets"], count["failed"], flush=True)
'

# Write argv[1] MiB of random data to stdout at argv[2] bytes a second,
# then write its SHA256 to the file argv[3].
PY_PACED_DATA='
import hashlib, os, sys, time
mib, rate, shafile = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = sys.stdout.buffer
h = hashlib.sha256()
chunk = bytearray(os.urandom(1 << 18))
t0 = time.monotonic()
for i in range(mib * 4):
    chunk[0:8] = i.to_bytes(8, "little")
    out.write(chunk)
    out.flush()
    h.update(chunk)
    wait = t0 + (i + 1) * len(chunk) / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
with open(shafile + ".tmp", "w") as f:
    f.write(h.hexdigest() + "\n")
os.replace(shafile + ".tmp", shafile)
'

np_fds() {
	ls "/proc/$1/fd" | wc -l
}

# np_wait_fds PID MAX: wait (bounded, 10 s) until PID has at most MAX
# descriptors open.
np_wait_fds() {
	np_until 10 np_fds_at_most "$1" "$2"
}

np_fds_at_most() {
	(($(np_fds "$1") <= $2))
}

@test "a -k --max-conns 8 listener takes thousands of short connections during 3 x 64 MiB bulk transfers with no fd or memory growth" {
	local t=$BATS_TEST_TMPDIR short=$BATS_TEST_TMPDIR/short.out
	local kpid kport i bpid=() bport=() spid=() cpid rate
	local fcold rcold f0 r0 f1 r1 sent resets failed
	np_fifo_held in.fifo
	NP_IN=$FIFO NP_OUT=$short NP_ERR=$t/k.err \
	    np_listen_exec -k --max-conns 8 127.0.0.1 0
	kpid=$NP_PID
	kport=$NP_PORT
	for i in 0 1 2; do
		NP_OUT=$t/bulk$i.out NP_ERR=$t/bulk$i.err \
		    np_listen_exec 127.0.0.1 0
		bpid+=("$NP_PID")
		bport+=("$NP_PORT")
	done
	fcold=$(np_fds "$kpid")
	rcold=$(np_rss_kb "$kpid")

	python3 -c "$PY_SHORT_CLIENTS" "$kport" "$NP_SOAK_SECONDS" "$t/warm" \
	    "$t/go" >"$t/clients.out" 2>"$t/clients.err" 3>&- &
	cpid=$!
	np_track "$cpid"
	np_wait_for "$t/warm" '^[0-9]+$' 40
	# Warm: every warm-up peer is gone again.
	np_wait_fds "$kpid" "$fcold" || fail "warm-up peers still open"
	f0=$(np_fds "$kpid")
	r0=$(np_rss_kb "$kpid")

	# The bulk transfers take about two thirds of the soak.
	rate=$((64 * 1024 * 1024 * 3 / (2 * NP_SOAK_SECONDS)))
	for i in 0 1 2; do
		"${NP[@]}" -N 127.0.0.1 "${bport[i]}" \
		    < <(python3 -c "$PY_PACED_DATA" 64 "$rate" "$t/bulk$i.sha") \
		    >/dev/null 2>"$t/sender$i.err" 3>&- &
		spid+=("$!")
		np_track "$!"
	done
	touch "$t/go"

	np_status "$cpid" $((NP_SOAK_SECONDS + 20))
	assert_equal "$NP_STATUS" 0
	read -r sent resets failed <"$t/clients.out"
	for i in 0 1 2; do
		np_status "${spid[i]}" 30
		assert_equal "$NP_STATUS" 0
		np_status "${bpid[i]}" 10
		assert_equal "$NP_STATUS" 0
	done

	np_wait_fds "$kpid" "$f0" || true
	f1=$(np_fds "$kpid")
	r1=$(np_rss_kb "$kpid")
	echo "# $sent short connections and $resets resets in ${NP_SOAK_SECONDS}s, 3 x 64 MiB bulk alongside" >&3
	echo "# fds cold=$fcold before=$f0 after=$f1; VmRSS cold=${rcold} KiB before=${r0} KiB after=${r1} KiB" >&3

	# Still serving.
	echo final | timeout 10 "${NP[@]}" -N 127.0.0.1 "$kport" >/dev/null
	np_wait_for "$short" '^final$'
	kill -0 "$kpid"

	assert_equal "$failed" 0
	((sent + resets >= 1000)) || fail "only $((sent + resets)) connections"
	assert_equal "$(grep -c '^short ' "$short")" "$sent"
	assert_equal "$(grep '^short ' "$short" | sort -u | wc -l)" "$sent"
	((f1 <= f0)) || fail "descriptors grew from $f0 to $f1"
	if [[ -z ${NETPIPE_WRAP:-} && $NETPIPE != *-san ]]; then
		((r1 - r0 < 2048)) || fail "VmRSS grew by $((r1 - r0)) KiB"
	fi
	for i in 0 1 2; do
		assert_equal "$(np_sha "$t/bulk$i.out")" "$(cat "$t/bulk$i.sha")"
		assert_equal "$(stat -c %s "$t/bulk$i.out")" $((64 * 1024 * 1024))
	done
}
