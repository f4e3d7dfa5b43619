#!/usr/bin/env python3
"""Floods a BGP speaker with UPDATEs (RFC 4271 §4.3), as fast as it reads.

Connects from --src to --dst:179, opens an eBGP session (AS --asn, hold
90 s, IPv4 unicast and 4-octet AS capabilities), then sends UPDATEs of
/32s from --first upwards, about 810 per message, until --count prefixes
are sent, --seconds pass, or the speaker closes the session. A thread reads
what the speaker sends, answers nothing, and notes a NOTIFICATION.

Prints one JSON line: prefixes sent, seconds, the NOTIFICATION's code and
subcode (null if none), and whether the speaker closed the connection.

  python3 bgp_flood.py --src 192.168.20.3 --dst 192.168.20.2 --asn 65001 \\
      --first 30.0.0.0 --count 1000000 --seconds 20
"""
import argparse
import ipaddress
import json
import socket
import struct
import threading
import time

MARKER = b"\xff" * 16


def message(kind, body):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn, router_id):
    caps = bytes([1, 4, 0, 1, 0, 1])  # multiprotocol: IPv4 unicast
    caps += bytes([65, 4]) + struct.pack("!I", asn)  # 4-octet AS
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH", 4, my_as, 90) + socket.inet_aton(router_id)
    return message(1, body + bytes([len(params)]) + params)


def update(asn, next_hop, prefixes):
    attrs = bytes([0x40, 1, 1, 0])  # ORIGIN IGP
    attrs += bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", asn)  # AS_PATH
    attrs += bytes([0x40, 3, 4]) + socket.inet_aton(next_hop)  # NEXT_HOP
    nlri = b"".join(bytes([32]) + struct.pack("!I", p) for p in prefixes)
    return message(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri)


def reader(sock, state):
    buf = b""
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            data = b""
        if not data:
            state["closed"] = True
            return
        buf += data
        while len(buf) >= 19:
            length = struct.unpack("!H", buf[16:18])[0]
            if length < 19 or len(buf) < length:
                break
            kind = buf[18]
            if kind == 3 and length >= 21:
                state["notification"] = [buf[19], buf[20]]
            buf = buf[length:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--asn", type=int, default=65001)
    ap.add_argument("--first", default="30.0.0.0")
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()
    sock = socket.create_connection((a.dst, 179), timeout=10, source_address=(a.src, 0))
    sock.settimeout(1.0)
    sock.sendall(open_msg(a.asn, a.src) + message(4, b""))
    state = {"closed": False, "notification": None}
    threading.Thread(target=reader, args=(sock, state), daemon=True).start()
    start = time.monotonic()
    first = int(ipaddress.IPv4Address(a.first))
    sent = 0
    per = 810
    pending = b""
    while sent < a.count and time.monotonic() - start < a.seconds and not state["closed"]:
        if not pending:
            n = min(per, a.count - sent)
            pending = update(a.asn, a.src, range(first + sent, first + sent + n))
            batch = n
        try:
            k = sock.send(pending)
        except socket.timeout:
            continue
        except OSError:
            break
        pending = pending[k:]
        if not pending:
            sent += batch
    elapsed = time.monotonic() - start
    # The speaker may still be reading what the socket buffers hold.
    deadline = time.monotonic() + 15
    while not state["closed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({
        "sent": sent,
        "seconds": round(elapsed, 3),
        "notification": state["notification"],
        "closed": state["closed"],
    }), flush=True)


if __name__ == "__main__":
    main()
