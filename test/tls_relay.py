"""A TLS relay for test/resume.bats that tells how each side ended.

Usage: python3 tls_relay.py PORTFILE TARGET_PORT CERT KEY CAFILE

It listens on 127.0.0.1 port 0 (the port goes to PORTFILE) as a TLS
server with CERT and KEY, takes one client, and relays it to a TLS server
on 127.0.0.1 TARGET_PORT, verified as "localhost" against CAFILE.  Each
side's end is printed on stdout, "client: close_notify", "client: eof
without close_notify" or the reason of a TLS error (such as an alert the
side sent), then "server: ...", and passed on to the other side
the same way it came: close_notify for close_notify, a bare close for a
bare close.  It exits once both sides have ended.  One thread and
ssl.MemoryBIO, so that what each side sent is seen record by record.
"""

import os
import select
import socket
import ssl
import sys

portfile, target, cert, key, cafile = sys.argv[1:6]


class Side:
    def __init__(self, name, sock, ctx, server_side):
        self.name, self.sock, self.ended = name, sock, False
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_side=server_side,
                                server_hostname=None if server_side
                                else "localhost")

    def flush(self):
        d = self.out.read()
        try:
            if d:
                self.sock.sendall(d)
        except OSError:
            pass            # the peer has gone; its end says how

    def feed(self):
        try:
            d = self.sock.recv(65536)
        except OSError:
            d = b""
        if d:
            self.inc.write(d)
        else:
            self.inc.write_eof()

    def handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self.feed()

    def close(self, clean):
        """Pass on an end: close_notify when clean, else a bare close."""
        if clean:
            try:
                self.tls.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
            self.flush()
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pump(src, dst):
    """Move what src has decrypted to dst; at src's end, report it."""
    why = "eof without close_notify"
    while not src.ended:
        try:
            d = src.tls.read(65536)
        except ssl.SSLWantReadError:
            return
        except ssl.SSLZeroReturnError:
            d = b""
        except (ssl.SSLEOFError, ssl.SSLSyscallError):
            d = None
        except ssl.SSLError as e:
            d, why = None, e.reason
        if d:
            dst.tls.write(d)
            dst.flush()
            continue
        src.ended = True
        print("%s: %s" % (src.name, "close_notify" if d == b"" else why),
              flush=True)
        if not dst.ended:
            dst.close(d == b"")


lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
with open(portfile + ".tmp", "w") as f:
    f.write(str(lsock.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(cert, key)
cctx = ssl.create_default_context(cafile=cafile)
# Some Pythons (Debian's 3.11.2) take a bare EOF for close_notify.
for c in (sctx, cctx):
    c.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
conn, _ = lsock.accept()
client = Side("client", conn, sctx, True)
client.handshake()
server = Side("server", socket.create_connection(("127.0.0.1",
                                                   int(target))), cctx, False)
server.handshake()
peer = {client.sock: (client, server), server.sock: (server, client)}
while not (client.ended and server.ended):
    socks = [s.sock for s in (client, server) if not s.ended]
    ready = select.select(socks, [], [], 30)[0]
    if not ready:
        sys.exit("tls_relay: 30 s without a word from either side")
    for s in ready:
        src, dst = peer[s]
        src.feed()
        pump(src, dst)
        src.flush()
