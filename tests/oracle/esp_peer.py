#!/usr/bin/env python3
"""A raw-ESP peer built on scapy (esp_oracle.py), live on the wire.

Run in the peer's namespace. Sends --count ICMP echo requests and --count
UDP datagrams (to a closed port) from --inner-src to --inner-dst, each
encrypted by scapy with the outbound SA and sent as IP protocol 50 to
--dst. Reads vwand's ESP packets from a raw protocol-50 socket, decrypts
them with the inbound SA (scapy verifies the ICV), and counts the echo
replies and the ICMP port-unreachables that come back.

Prints one JSON line: sent, echo replies, unreachables, ESP packets read,
and the ones that failed to decrypt (with the first error).

  python3 esp_peer.py --dst 192.0.2.1 --inner-src 10.20.0.1 --inner-dst 10.10.0.1 \\
      --alg aes256gcm16 --out-spi 0x2001 --out-key HEX [--out-auth HEX] \\
      --in-spi 0x1001 --in-key HEX [--in-auth HEX] [--esn] --count 20
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esp_oracle  # noqa: E402
from scapy.compat import raw  # noqa: E402
from scapy.layers.inet import ICMP, IP, UDP, UDPerror  # noqa: E402
from scapy.packet import Raw  # noqa: E402


def unhex(s):
    return None if s in (None, "-") else bytes.fromhex(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--inner-src", required=True)
    ap.add_argument("--inner-dst", required=True)
    ap.add_argument("--alg", required=True)
    ap.add_argument("--out-spi", type=lambda v: int(v, 0), required=True)
    ap.add_argument("--out-key", required=True)
    ap.add_argument("--out-auth")
    ap.add_argument("--in-spi", type=lambda v: int(v, 0), required=True)
    ap.add_argument("--in-key", required=True)
    ap.add_argument("--in-auth")
    ap.add_argument("--esn", action="store_true")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()
    out_key, out_auth = unhex(a.out_key), unhex(a.out_auth)
    in_key, in_auth = unhex(a.in_key), unhex(a.in_auth)

    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
    sock.settimeout(0.2)
    seq = 0

    def send(inner):
        nonlocal seq
        seq += 1
        esp = esp_oracle.scapy_encrypt(a.alg, a.out_spi, seq, out_key, out_auth,
                                       a.esn, raw(inner))
        sock.sendto(esp, (a.dst, 0))

    ident = os.getpid() & 0xFFFF
    for i in range(a.count):
        send(IP(src=a.inner_src, dst=a.inner_dst) / ICMP(type=8, id=ident, seq=i)
             / Raw(b"vwand-live-%04d" % i))
        send(IP(src=a.inner_src, dst=a.inner_dst) / UDP(sport=40000 + i, dport=9)
             / Raw(b"udp-%04d" % i))

    replies, unreachable, read, bad, first_error = set(), set(), 0, 0, None
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and (len(replies) < a.count
                                           or len(unreachable) < a.count):
        try:
            pkt = sock.recv(65535)
        except socket.timeout:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        esp = pkt[ihl:]
        if len(esp) < 8 or struct.unpack("!I", esp[:4])[0] != a.in_spi:
            continue
        read += 1
        wire_seq = struct.unpack("!I", esp[4:8])[0]
        res = esp_oracle.scapy_decrypt(a.alg, a.in_spi, wire_seq, in_key, in_auth,
                                       a.esn, esp)
        if not res["ok"]:
            bad += 1
            first_error = first_error or res["error"]
            continue
        inner = IP(bytes.fromhex(res["inner"]))
        if ICMP in inner and inner[ICMP].type == 0 and inner[ICMP].id == ident:
            replies.add(inner[ICMP].seq)
        elif ICMP in inner and inner[ICMP].type == 3 and UDPerror in inner:
            unreachable.add(inner[UDPerror].sport)
    print(json.dumps({
        "alg": a.alg, "esn": a.esn, "sent": a.count,
        "echo_replies": len(replies), "unreachable": len(unreachable),
        "esp_read": read, "bad": bad, "first_error": first_error,
    }), flush=True)


if __name__ == "__main__":
    main()
