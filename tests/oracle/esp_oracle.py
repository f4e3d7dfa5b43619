#!/usr/bin/env python3
"""Independent ESP oracle for vwand, built on scapy's IPsec implementation.

Only depends on scapy + cryptography (``python3 -m pip install scapy cryptography``).
All ESP handling is tunnel mode: the inner packet is a whole IPv4/IPv6 packet and
the ESP next-header is 4 (IPv4) or 41 (IPv6).  ESP bytes are the ESP packet only
(SPI | seq | IV | ciphertext | ICV), never an outer IP/UDP header.

Usage:
  python3 esp_oracle.py gen [--out FILE]   # deterministic known-answer vectors
  python3 esp_oracle.py decrypt < in.json  # scapy decrypts packets (e.g. made by vwand)
  python3 esp_oracle.py encrypt < in.json  # scapy encrypts with a random IV

JSON formats (hex strings are lowercase, no 0x prefix):
  gen output: list of {"name", "alg", "esn": bool, "spi": int, "seq": int,
      "key": hex, "auth_key": hex|null, "next_header": 4|41, "inner": hex, "esp": hex}
  decrypt input:  list of {"alg","esn","spi","seq","key","auth_key","esp"}
  decrypt output: list of {"ok": bool, "inner": hex|null, "error": str|null,
      "next_header": int|null, "pad_len": int|null, "pad_ok": bool|null}
      (pad_ok: padding bytes are 1,2,3,... as RFC 4303 2.4 says; informational,
      it does not affect "ok")
  encrypt input:  list of {"alg","esn","spi","seq","key","auth_key","inner"}
  encrypt output: list of {"esp": hex}

"seq" is always the full 64-bit sequence number.  With esn=false it must be
< 2^32; with esn=true its high 32 bits go into the ICV / AEAD AAD (RFC 4303
2.2.1, RFC 4106 5) and its low 32 bits are the on-the-wire seq field.

Algorithms (vwand name -> scapy): see ALGS below.  For AEAD algorithms "key" is
key||salt (4-byte salt LAST), which is exactly what scapy's SecurityAssociation
expects as crypt_key (it splits off the trailing salt_size bytes).
"""
import argparse
import hashlib
import json
import struct
import sys

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# vwand alg name -> (scapy crypt_algo, crypt key len incl. salt, scapy auth_algo,
#                    auth key len, IV len)
ALGS = {
    "aes128gcm16": ("AES-GCM", 20, None, 0, 8),
    "aes256gcm16": ("AES-GCM", 36, None, 0, 8),
    "chacha20poly1305": ("CHACHA20-POLY1305", 36, None, 0, 8),
    "aes128-sha256": ("AES-CBC", 16, "SHA2-256-128", 32, 16),
    "aes256-sha256": ("AES-CBC", 32, "SHA2-256-128", 32, 16),
    "aes256-sha512": ("AES-CBC", 32, "SHA2-512-256", 64, 16),
}

# Outer tunnel addresses used when wrapping ESP for scapy (not part of the ICV).
OUTER_SRC, OUTER_DST = "192.0.2.1", "198.51.100.1"


def _hex(b):
    return None if b is None else bytes(b).hex()


def _unhex(s):
    return None if s is None else bytes.fromhex(s)


def make_sa(alg, spi, seq, key, auth_key, esn):
    """Build a tunnel-mode scapy SA for one packet with full 64-bit seq."""
    if alg not in ALGS:
        raise ValueError("unknown alg %r" % alg)
    crypt, klen, auth, aklen, _ = ALGS[alg]
    if len(key) != klen:
        raise ValueError("%s: key must be %d bytes, got %d" % (alg, klen, len(key)))
    if auth and (auth_key is None or len(auth_key) != aklen):
        raise ValueError("%s: auth_key must be %d bytes" % (alg, aklen))
    if not esn and seq >> 32:
        raise ValueError("seq >= 2^32 without esn")
    # NB scapy uses `seq_num or self.seq_num` and `esn or self.esn`, so a low
    # seq / high esn of 0 must also be configured on the SA itself.
    return SecurityAssociation(
        ESP, spi=spi, seq_num=seq & 0xFFFFFFFF,
        crypt_algo=crypt, crypt_key=key,
        auth_algo=auth, auth_key=auth_key if auth else None,
        tunnel_header=IP(src=OUTER_SRC, dst=OUTER_DST),
        esn_en=bool(esn), esn=(seq >> 32) if esn else 0)


def scapy_encrypt(alg, spi, seq, key, auth_key, esn, inner, iv=None):
    """Encrypt inner packet bytes; returns ESP bytes (no outer header)."""
    sa = make_sa(alg, spi, seq, key, auth_key, esn)
    pkt = IP(inner) if inner[0] >> 4 == 4 else IPv6(inner)
    out = sa.encrypt(pkt, seq_num=seq & 0xFFFFFFFF, iv=iv)
    return raw(out[ESP])


def scapy_decrypt(alg, spi, seq, key, auth_key, esn, esp):
    """Decrypt ESP bytes with scapy.  Returns a result dict (see module doc)."""
    res = {"ok": False, "inner": None, "error": None,
           "next_header": None, "pad_len": None, "pad_ok": None}
    try:
        sa = make_sa(alg, spi, seq, key, auth_key, esn)
        if len(esp) < 8:
            raise ValueError("ESP packet shorter than 8 bytes")
        wire_spi, wire_seq = struct.unpack("!II", esp[:8])
        if wire_spi != spi:
            raise ValueError("SPI mismatch: packet 0x%08x, expected 0x%08x" % (wire_spi, spi))
        if wire_seq != seq & 0xFFFFFFFF:
            raise ValueError("seq mismatch: packet low32 %d, expected %d" %
                             (wire_seq, seq & 0xFFFFFFFF))
        outer = IP(raw(IP(src=OUTER_SRC, dst=OUTER_DST, proto=50) / Raw(esp)))
        # Low-level pass first, for next header / padding details (no verify).
        icv = sa.crypt_icv_size or sa.crypt_algo.icv_size or sa.auth_algo.icv_size
        plain = sa.crypt_algo.decrypt(sa, outer[ESP].copy(), sa.crypt_key, icv,
                                      esn_en=sa.esn_en, esn=sa.esn)
        res["next_header"] = plain.nh
        res["pad_len"] = plain.padlen
        res["pad_ok"] = bytes(plain.padding) == bytes(range(1, plain.padlen + 1))
        # The real acceptance test: scapy's public decrypt (verifies the ICV).
        inner = sa.decrypt(outer)
        res["inner"] = _hex(raw(inner))
        res["ok"] = True
    except Exception as exc:  # report, never crash the batch
        res["error"] = "%s: %s" % (type(exc).__name__,
                                   str(exc) or "ICV/AEAD tag verification failed")
        res["ok"] = False
        res["inner"] = None
    return res


# ---------------------------------------------------------------------------
# Independent re-derivation with plain `cryptography` (belt and braces for gen)
# ---------------------------------------------------------------------------
def crosscheck(alg, spi, seq, key, auth_key, esn, esp):
    """Decrypt per the RFCs without scapy; returns (nh, inner)."""
    crypt, _, auth, _, ivlen = ALGS[alg]
    hdr, iv = esp[:8], esp[8:8 + ivlen]
    hi = struct.pack("!I", seq >> 32)
    if auth is None:  # RFC 4106 / RFC 7634: nonce = salt || IV, AAD = SPI [|| seq_hi] || seq_lo
        aad = hdr[:4] + hi + hdr[4:] if esn else hdr
        aead = (AESGCM if crypt == "AES-GCM" else ChaCha20Poly1305)(key[:-4])
        pt = aead.decrypt(key[-4:] + iv, esp[8 + ivlen:], aad)
    else:  # RFC 4303 2.2.1 / RFC 4868: HMAC over ESP || seq_hi (ESN), truncated
        icvlen = 16 if auth == "SHA2-256-128" else 32
        h = hmac.HMAC(auth_key, hashes.SHA256() if icvlen == 16 else hashes.SHA512())
        h.update(esp[:-icvlen] + (hi if esn else b""))
        if h.finalize()[:icvlen] != esp[-icvlen:]:
            raise ValueError("crosscheck: HMAC mismatch")
        ct = esp[8 + ivlen:-icvlen]
        d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        pt = d.update(ct) + d.finalize()
        if len(ct) % 16:
            raise ValueError("crosscheck: CBC ciphertext not block aligned")
    padlen, nh = pt[-2], pt[-1]
    if pt[-2 - padlen:-2] != bytes(range(1, padlen + 1)):
        raise ValueError("crosscheck: bad padding")
    if len(esp) % 4:  # all ICVs here are 16/32 bytes, so payload end aligns too
        raise ValueError("crosscheck: ESP not 4-byte aligned")
    return nh, pt[:-2 - padlen]


# ---------------------------------------------------------------------------
# Known-answer vector generation
# ---------------------------------------------------------------------------
def _det(label, n):
    """Deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    out, ctr = b"", 0
    while len(out) < n:
        out += hashlib.sha256(b"vwand-esp-oracle/%s/%d" % (label.encode(), ctr)).digest()
        ctr += 1
    return out[:n]


def make_inner(version, kind, size, label):
    """Inner packet: ICMP echo or UDP, IPv4 or IPv6, with `size` payload bytes."""
    data = _det(label + "/payload", size)
    if version == 4:
        ip = IP(src="10.1.0.1", dst="10.2.0.1", ttl=64, id=0x1234, flags="DF")
        l4 = (ICMP(type=8, id=0x77, seq=3) if kind == "icmp"
              else UDP(sport=40000, dport=5001))
    else:
        ip = IPv6(src="fd00:1::1", dst="fd00:2::1", hlim=64, fl=0x12345)
        l4 = (ICMPv6EchoRequest(id=0x77, seq=3) if kind == "icmp"
              else UDP(sport=40000, dport=5001))
    return raw(ip / l4 / Raw(data))


# (esn, ip version, l4, payload size, seq) -- applied to every algorithm
CASES = [
    (False, 4, "icmp", 0, 1),
    (False, 6, "udp", 100, 0x12345678),
    (False, 4, "udp", 1400, 0xFFFFFFFF),
    (False, 6, "icmp", 7, 2),
    (True, 4, "udp", 100, (5 << 32) | 7),
    (True, 6, "icmp", 0, (5 << 32) | 7),
    (True, 6, "udp", 1400, (1 << 32) | 0xFFFFFFFE),
    (True, 4, "icmp", 13, 0xDEADBEEF << 32),  # low 32 bits == 0 (post-wrap)
]


def gen_vectors():
    vecs = []
    for ai, alg in enumerate(ALGS):
        crypt, klen, auth, aklen, ivlen = ALGS[alg]
        key = _det(alg + "/key", klen)
        auth_key = _det(alg + "/auth_key", aklen) if auth else None
        for ci, (esn, ver, kind, size, seq) in enumerate(CASES):
            name = "%s-%s-v%d-%s%d-seq%x" % (alg, "esn" if esn else "noesn",
                                             ver, kind, size, seq)
            spi = 0xC0DE0000 | (ai << 8) | ci
            inner = make_inner(ver, kind, size, name)
            iv = _det(name + "/iv", ivlen)
            esp = scapy_encrypt(alg, spi, seq, key, auth_key, esn, inner, iv=iv)
            # 1. round-trip through scapy's own decrypt
            r = scapy_decrypt(alg, spi, seq, key, auth_key, esn, esp)
            if not r["ok"] or _unhex(r["inner"]) != inner or not r["pad_ok"]:
                raise RuntimeError("scapy round-trip failed for %s: %r" % (name, r))
            # 2. independent re-derivation with raw cryptography primitives
            nh, pt = crosscheck(alg, spi, seq, key, auth_key, esn, esp)
            if nh != (4 if ver == 4 else 41) or pt != inner:
                raise RuntimeError("crosscheck failed for %s" % name)
            # 3. with ESN, the high bits must matter (wrong high bits -> reject)
            if esn:
                bad = scapy_decrypt(alg, spi, seq ^ (1 << 40), key, auth_key, esn, esp)
                if bad["ok"]:
                    raise RuntimeError("ESN high bits ignored for %s" % name)
            vecs.append({
                "name": name, "alg": alg, "esn": esn, "spi": spi, "seq": seq,
                "key": _hex(key), "auth_key": _hex(auth_key),
                "next_header": 4 if ver == 4 else 41,
                "inner": _hex(inner), "esp": _hex(esp),
            })
    return vecs


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _common(o):
    return (o["alg"], int(o["spi"]), int(o["seq"]), _unhex(o["key"]),
            _unhex(o.get("auth_key")), bool(o.get("esn", False)))


def cmd_decrypt(items):
    return [scapy_decrypt(*_common(o), _unhex(o["esp"])) for o in items]


def cmd_encrypt(items):
    out = []
    for o in items:
        esp = scapy_encrypt(*_common(o), _unhex(o["inner"]))
        out.append({"esp": _hex(esp)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="write deterministic known-answer vectors")
    g.add_argument("--out", default="-", help="output file ('-' = stdout)")
    sub.add_parser("decrypt", help="decrypt JSON list from stdin")
    sub.add_parser("encrypt", help="encrypt JSON list from stdin (random IV)")
    args = ap.parse_args(argv)

    if args.cmd == "gen":
        text = json.dumps(gen_vectors(), indent=1) + "\n"
        if args.out == "-":
            sys.stdout.write(text)
        else:
            with open(args.out, "w") as f:
                f.write(text)
            print("wrote %d vectors to %s" % (len(json.loads(text)), args.out),
                  file=sys.stderr)
        return 0
    items = json.load(sys.stdin)
    res = cmd_decrypt(items) if args.cmd == "decrypt" else cmd_encrypt(items)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
