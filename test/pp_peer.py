"""A --passphrase peer built on python3-spake2 and python3-cryptography,
written from netpipe.1's wire format: it checks that netpipe's SPAKE2 is
the library's (same group, M and N, password scalar and key), that the
key confirmations agree both ways, and that the records open.

pp_peer.py client PORT | server: the phrase is NETPIPE_PASSPHRASE.  The
server prints its kernel-chosen port.  Stdin is sent as records, then
the end record; the peer's records go to stdout.  Exit 3 when the
confirmation does not match, 4 on a bad record or a missing end.  With
PP_PEER_CHACHA=1 it offers no AES-256-GCM, so that XChaCha20-Poly1305 is
used: HChaCha20 (written here from RFC draft-irtf-cfrg-xchacha) turns
the key and the first 16 nonce bytes into the key of the IETF
ChaCha20-Poly1305 that python3-cryptography has.  With PP_PEER_ONESEND=1
all its records, the end record too, go in one send."""

import hashlib
import hmac
import os
import socket
import sys

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, \
    ChaCha20Poly1305
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


def hchacha20(key, n16):
    def rotl(v, c):
        return ((v << c) & 0xffffffff) | (v >> (32 - c))

    def qr(x, a, b, c, d):
        x[a] = (x[a] + x[b]) & 0xffffffff
        x[d] = rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & 0xffffffff
        x[b] = rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & 0xffffffff
        x[d] = rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & 0xffffffff
        x[b] = rotl(x[b] ^ x[c], 7)

    x = list(struct.unpack("<4I", b"expand 32-byte k") +
             struct.unpack("<8I", key) + struct.unpack("<4I", n16))
    for _ in range(10):
        qr(x, 0, 4, 8, 12)
        qr(x, 1, 5, 9, 13)
        qr(x, 2, 6, 10, 14)
        qr(x, 3, 7, 11, 15)
        qr(x, 0, 5, 10, 15)
        qr(x, 1, 6, 11, 12)
        qr(x, 2, 7, 8, 13)
        qr(x, 3, 4, 9, 14)
    return struct.pack("<8I", *(x[0:4] + x[12:16]))


def aead(key, aes):
    """Our nonce is 0 but for its last 8 bytes, so XChaCha20's subkey is
    HChaCha20(key, 16 zero bytes), and its 12-byte nonce is nonce()."""
    if aes:
        return AESGCM(key)
    return ChaCha20Poly1305(hchacha20(key, b"\0" * 16))


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
    aes = os.environ.get("PP_PEER_CHACHA") != "1"
    mine = MAGIC + (b"\x01" if aes else b"\x00") + me.start()
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
    send = aead(expand(prk, ("data %s to %s" % (me_s, you_s)).encode()), aes)
    recv = aead(expand(prk, ("data %s to %s" % (you_s, me_s)).encode()), aes)
    seq = 0
    data = sys.stdin.buffer.read()
    out = []
    for off in range(0, len(data), 65536):
        chunk = data[off:off + 65536]
        hdr = bytes([0]) + len(chunk).to_bytes(3, "big")
        out.append(hdr + send.encrypt(nonce(seq), chunk, hdr))
        seq += 1
    hdr = b"\x01\0\0\0"
    out.append(hdr + send.encrypt(nonce(seq), b"", hdr))
    # PP_PEER_ONESEND=1: every record in one send, the end with the data.
    if os.environ.get("PP_PEER_ONESEND") == "1":
        out = [b"".join(out)]
    for rec in out:
        sock.sendall(rec)
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
