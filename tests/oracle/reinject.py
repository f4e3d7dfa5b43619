#!/usr/bin/env python3
"""Re-send one captured ESP packet, optionally with one bit flipped.

Used by the replay and tamper tests: run inside the sending host's network
namespace. Reads a pcap (tcpdump -w), picks the INDEX-th ESP packet whose
outer source is SRC (raw ESP, or ESP in UDP port 4500), flips bit FLIP_BIT of
the ESP packet (bit 0 = most significant bit of the SPI) if given, and sends
it again at layer 3.

  python3 reinject.py --pcap F --src 192.0.2.1 --index 0 [--flip-bit 40]
"""
import argparse
import sys

from scapy.all import IP, UDP, Raw, rdpcap, send  # noqa: E402


def esp_packets(pcap, src):
    for p in rdpcap(pcap):
        if IP not in p or p[IP].src != src:
            continue
        ip = p[IP]
        if ip.proto == 50:
            yield ip, bytes(ip.payload), None
        elif UDP in ip and 4500 in (ip[UDP].sport, ip[UDP].dport):
            data = bytes(ip[UDP].payload)
            if len(data) > 8 and data[:4] != b"\0\0\0\0":
                yield ip, data, ip[UDP]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--flip-bit", type=int)
    a = ap.parse_args()
    found = list(esp_packets(a.pcap, a.src))
    if a.index >= len(found):
        sys.exit(f"only {len(found)} ESP packets from {a.src} in {a.pcap}")
    ip, esp, udp = found[a.index]
    esp = bytearray(esp)
    if a.flip_bit is not None:
        esp[a.flip_bit // 8] ^= 0x80 >> (a.flip_bit % 8)
    if udp is not None:
        out = IP(src=ip.src, dst=ip.dst) / UDP(sport=udp.sport, dport=udp.dport) / Raw(bytes(esp))
    else:
        out = IP(src=ip.src, dst=ip.dst, proto=50) / Raw(bytes(esp))
    send(out, verbose=False)
    print(f"sent ESP seq={int.from_bytes(esp[4:8], 'big')} len={len(esp)}")


if __name__ == "__main__":
    main()
