"""A TLS client for test/tlsbroker.bats whose last data and close_notify
reach the server in one send, so that one read of the server's socket can
hold both.

Usage: python3 tls_onesend.py PORT CAFILE

It connects to 127.0.0.1 PORT, verifies the server as "localhost" against
CAFILE, seals all of stdin and its close_notify into memory, and sends them
with one sendall.  It then reads what the server sends (to stdout) until the
server's own close_notify ("close_notify" on stderr, exit 0) or a bare EOF
("eof without close_notify", exit 1).  The records are made in memory
(ssl.MemoryBIO): an SSLSocket would send each record as it is made.
"""

import socket
import ssl
import sys

port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
# Some Pythons (Debian's 3.11.2) take a bare EOF for close_notify.
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
sock = socket.create_connection(("127.0.0.1", port))
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")


def feed():
    d = sock.recv(65536)
    if d:
        incoming.write(d)
    else:
        incoming.write_eof()
    return d


while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        sock.sendall(outgoing.read())
        feed()
sock.sendall(outgoing.read())
tls.write(sys.stdin.buffer.read())
try:
    tls.unwrap()
except ssl.SSLWantReadError:
    pass            # close_notify is made; the server's is still to come
sock.sendall(outgoing.read())
while True:
    try:
        d = tls.read(65536)
    except ssl.SSLWantReadError:
        if not feed():
            print("eof without close_notify", file=sys.stderr)
            sys.exit(1)
        continue
    except ssl.SSLZeroReturnError:
        d = b""
    except (ssl.SSLEOFError, ssl.SSLSyscallError):
        print("eof without close_notify", file=sys.stderr)
        sys.exit(1)
    if not d:
        print("close_notify", file=sys.stderr)
        sys.exit(0)
    sys.stdout.buffer.write(d)
    sys.stdout.flush()
