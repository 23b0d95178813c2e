"""A relay between a --passphrase client and its listener that tees every
byte it forwards to DIR/up and DIR/down, and can attack the client's
records (netpipe.1, ENCRYPTION WITHOUT CERTIFICATES):

pp_relay.py MODE K PORT DIR, MODE one of
  pass    forward everything
  flip    flip a bit in the ciphertext of data record K
  drop    leave out data record K
  replay  send data record K twice
  cut     forward records before K, then close the connection
  noend   forward every data record but not the end record, then close
It prints its own kernel-chosen port."""

import socket
import sys
import threading

HANDSHAKE = 41 + 32


def recvn(sock, n):
    b = b""
    while len(b) < n:
        d = sock.recv(n - len(b))
        if not d:
            break
        b += d
    return b


def up(c, s, mode, k, cap):
    hs = recvn(c, HANDSHAKE)
    cap.write(hs)
    s.sendall(hs)
    i = 0
    while True:
        hdr = recvn(c, 4)
        if len(hdr) < 4:
            break
        rec = hdr + recvn(c, int.from_bytes(hdr[1:], "big") + 16)
        cap.write(rec)
        if (mode == "noend" and hdr[0] == 1) or (mode == "cut" and i == k):
            break
        if i == k and hdr[0] == 0:
            if mode == "flip":
                rec = rec[:20] + bytes([rec[20] ^ 0x01]) + rec[21:]
            elif mode == "drop":
                i += 1
                continue
            elif mode == "replay":
                s.sendall(rec)
        s.sendall(rec)
        i += 1
    s.shutdown(socket.SHUT_WR)


def down(s, c, cap):
    while True:
        d = s.recv(65536)
        if not d:
            break
        cap.write(d)
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)


def guarded(f, *args):
    try:
        f(*args)
    except OSError:
        pass


def main():
    mode, k, port, where = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4]
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print(ls.getsockname()[1], flush=True)
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", port))
    with open(where + "/up", "wb") as u, open(where + "/down", "wb") as d:
        t = threading.Thread(target=guarded, args=(down, s, c, d))
        t.start()
        guarded(up, c, s, mode, k, u)
        if mode in ("cut", "noend"):
            s.close()
        t.join()
    c.close()


main()
