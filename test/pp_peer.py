"""A --passphrase peer built on python3-spake2 and python3-cryptography,
written from netpipe.1's wire format: it checks that netpipe's SPAKE2 is
the library's (same group, M and N, password scalar and key), that the
key confirmations agree both ways, and that the records open.

pp_peer.py client PORT | server: the phrase is NETPIPE_PASSPHRASE.  The
server prints its kernel-chosen port.  Stdin is sent as records, then
the end record; the peer's records go to stdout.  Exit 3 when the
confirmation does not match, 4 on a bad record or a missing end."""

import hashlib
import hmac
import os
import socket
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from spake2 import SPAKE2_A, SPAKE2_B

MAGIC = b"NPPASS1"
IDS = (b"netpipe client", b"netpipe server")


def recvn(sock, n):
    b = b""
    while len(b) < n:
        d = sock.recv(n - len(b))
        if not d:
            return b
        b += d
    return b


def expand(prk, label):
    return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()


def nonce(seq):
    return b"\0" * 4 + seq.to_bytes(8, "big")


def main():
    role = sys.argv[1]
    pw = os.environ["NETPIPE_PASSPHRASE"].encode()
    if role == "server":
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        print(ls.getsockname()[1], flush=True)
        sock, _ = ls.accept()
        me = SPAKE2_B(pw, idA=IDS[0], idB=IDS[1])
    else:
        sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
        me = SPAKE2_A(pw, idA=IDS[0], idB=IDS[1])
    mine = MAGIC + b"\x01" + me.start()
    sock.sendall(mine)
    theirs = recvn(sock, 41)
    assert theirs[:7] == MAGIC, theirs
    key = me.finish(theirs[8:])
    a, b = (mine, theirs) if role == "client" else (theirs, mine)
    th = hashlib.sha256(b"netpipe passphrase v1" + a + b).digest()
    prk = hmac.new(th, key, hashlib.sha256).digest()
    me_s, you_s = ("A", "B") if role == "client" else ("B", "A")
    sock.sendall(expand(prk, b"confirm " + me_s.encode()))
    if not hmac.compare_digest(recvn(sock, 32),
                               expand(prk, b"confirm " + you_s.encode())):
        print("confirmation does not match", file=sys.stderr)
        sys.exit(3)
    assert theirs[7] & 1, "netpipe did not offer AES-256-GCM"
    send = AESGCM(expand(prk, ("data %s to %s" % (me_s, you_s)).encode()))
    recv = AESGCM(expand(prk, ("data %s to %s" % (you_s, me_s)).encode()))
    seq = 0
    data = sys.stdin.buffer.read()
    for off in range(0, len(data), 65536):
        chunk = data[off:off + 65536]
        hdr = bytes([0]) + len(chunk).to_bytes(3, "big")
        sock.sendall(hdr + send.encrypt(nonce(seq), chunk, hdr))
        seq += 1
    hdr = b"\x01\0\0\0"
    sock.sendall(hdr + send.encrypt(nonce(seq), b"", hdr))
    seq = 0
    while True:
        hdr = recvn(sock, 4)
        if len(hdr) < 4:
            print("cut before the end record", file=sys.stderr)
            sys.exit(4)
        n = int.from_bytes(hdr[1:], "big")
        try:
            pt = recv.decrypt(nonce(seq), recvn(sock, n + 16), hdr)
        except Exception:
            print("bad record", file=sys.stderr)
            sys.exit(4)
        seq += 1
        if hdr[0] == 1:
            break
        sys.stdout.buffer.write(pt)
    sys.stdout.flush()
    sock.close()


main()
