#!/usr/bin/env python3
"""Floods an IKEv2 responder with IKE_SA_INIT requests (RFC 7296 §2.6).

Run inside the configured peer's network namespace, so that the requests
come from an address the responder answers. Each request has a fresh SPIi,
nonce and X25519 public value, and offers aes128gcm16-prfsha256-x25519. A
COOKIE reply is echoed once (the cookie first, as §2.6 asks), so the flood
gets past cookies the way a return-routable attacker would. Nothing goes
further than IKE_SA_INIT: every SA it makes stays half-open.

Prints one JSON line: how many requests got an SA response ("accepted"), a
COOKIE reply, a COOKIE reply to the echoed cookie, an error notify, or no
answer ("silent").

  python3 ike_flood.py --src 192.0.2.2 --dst 192.0.2.1 --count 20
"""
import argparse
import json
import os
import socket
import struct

IKE_SA_INIT = 34
SA, KE, NONCE, NOTIFY = 33, 34, 40, 41
COOKIE = 16390


def payload(next_type, body):
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def transform(last, ttype, tid, attrs=b""):
    body = struct.pack("!BBH", ttype, 0, tid) + attrs
    return struct.pack("!BBH", 0 if last else 3, 0, 4 + len(body)) + body


def sa_body():
    transforms = (
        transform(False, 1, 20, struct.pack("!HH", 0x800E, 128))  # ENCR AES-GCM-16, 128
        + transform(False, 2, 5)  # PRF HMAC-SHA2-256
        + transform(True, 4, 31)  # DH Curve25519
    )
    prop = struct.pack("!BBBB", 1, 1, 0, 3) + transforms  # #1, IKE, no SPI
    return struct.pack("!BBH", 0, 0, 4 + len(prop)) + prop


def request(spi_i, nonce, public, cookie=None):
    chain = []
    if cookie is not None:
        chain.append((NOTIFY, struct.pack("!BBH", 0, 0, COOKIE) + cookie))
    chain.append((SA, sa_body()))
    chain.append((KE, struct.pack("!HH", 31, 0) + public))
    chain.append((NONCE, nonce))
    body = b""
    for i, (_, data) in enumerate(chain):
        nxt = chain[i + 1][0] if i + 1 < len(chain) else 0
        body += payload(nxt, data)
    header = struct.pack("!QQBBBBII", spi_i, 0, chain[0][0], 0x20, IKE_SA_INIT, 0x08, 0, 28 + len(body))
    return header + body


def notifies(msg):
    """(type, data) of each notify in an unencrypted IKE message."""
    out = []
    if len(msg) < 28:
        return out
    nxt, at = msg[16], 28
    while nxt and at + 4 <= len(msg):
        this, (nxt, _, length) = nxt, struct.unpack("!BBH", msg[at:at + 4])
        if length < 4:
            break
        if this == NOTIFY and length >= 8:
            out.append((struct.unpack("!H", msg[at + 6:at + 8])[0], msg[at + 8:at + length]))
        at += length
    return out


def answer(sock, spi_i):
    """The reply to our request SPIi, or None after the timeout."""
    while True:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            return None
        if len(data) >= 28 and struct.unpack("!Q", data[:8])[0] == spi_i:
            return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=0.2)
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.src, 0))
    sock.settimeout(a.timeout)
    counts = {"accepted": 0, "cookie": 0, "cookie_again": 0, "error": 0, "silent": 0}
    for _ in range(a.count):
        spi_i = struct.unpack("!Q", os.urandom(8))[0] | 1
        nonce, public = os.urandom(32), os.urandom(32)
        sock.sendto(request(spi_i, nonce, public), (a.dst, 500))
        reply = answer(sock, spi_i)
        cookie = [d for t, d in notifies(reply or b"") if t == COOKIE]
        if cookie:
            counts["cookie"] += 1
            sock.sendto(request(spi_i, nonce, public, cookie[0]), (a.dst, 500))
            reply = answer(sock, spi_i)
            if any(t == COOKIE for t, _ in notifies(reply or b"")):
                counts["cookie_again"] += 1
                continue
        if reply is None:
            counts["silent"] += 1
        elif struct.unpack("!Q", reply[8:16])[0] != 0:
            counts["accepted"] += 1
        else:
            counts["error"] += 1
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
