#!/usr/bin/env python3
"""Check ESP packets in a pcap with tshark's own ESP decryption (independent oracle).

Usage:
  python3 tshark_esp.py --pcap F --sa 'src,dst,spi,alg,keyhex,authkeyhex_or_-[,esn]' \
      [--sa ...] [--udp-encap [PORT]] [--seq-analysis] [--ignore REGEX] [--verbose]

Prints one JSON object and exits 0 (exit 2 only for usage errors / tshark missing):
  {"esp_packets": n,      # frames containing an ESP header
   "decrypted": n,        # ESP frames whose inner IPv4/IPv6 packet was dissected,
                          #   ICV verified good (see ESN below), no warn/error expert
   "errors": [str, ...],  # warn/error expert infos, ICV failures, undecrypted
                          #   frames, UAT load errors -- empty means all good
   "icv_good": n, "icv_bad": n, "icv_unverifiable": n,
   "unsupported_packets": n,  # ESP frames of SAs tshark cannot decrypt (ChaCha20)
   "notes": [str, ...], "tshark_version": str}
A caller normally asserts errors == [] and decrypted == esp_packets - unsupported_packets.

--sa fields: src/dst are the OUTER tunnel addresses (IPv4 or IPv6, or '*');
spi is decimal or 0x-hex; alg is a vwand name (aes128gcm16, aes256gcm16,
aes128-sha256, aes256-sha256, aes256-sha512, aes{128,192,256}-sha{1,256,384,512},
chacha20poly1305); keyhex is the encryption key (for GCM: key||4-byte salt,
same as vwand/scapy); authkeyhex is '-' for AEAD.  An optional 7th field 'esn'
marks an SA using extended sequence numbers.

How it works: a throw-away config dir (WIRESHARK_CONFIG_DIR) gets an `esp_sa`
UAT file, one line per SA, e.g.
  "IPv4","192.0.2.1","198.51.100.1","0xc0de0000","AES-GCM with 16 octet ICV [RFC4106]","0x<key||salt>","NULL",""
  "IPv4","192.0.2.1","198.51.100.1","0xc0de0300","AES-CBC [RFC3602]","0x<key>","HMAC-SHA-256-128 [RFC4868]","0x<authkey>"
and the prefs esp.enable_encryption_decode, esp.enable_authentication_check are
set TRUE (esp.do_esp_sequence_analysis FALSE unless --seq-analysis).
UDP-encapsulated ESP (RFC 3948) on port 4500 is decoded by tshark's udpencap
dissector automatically; --udp-encap PORT adds a decode-as for another port.

Wireshark 4.0.x limitations (Debian 12 tshark 4.0.17), found in packet-ipsec.c:
 * No ESN support at all: the HMAC is computed over the ESP packet only and the
   GCM AAD is the 8-byte SPI||seq header, so an ESN SA whose high 32 bits are
   non-zero always shows "ICV bad".  Decryption itself still works (CBC, and
   GCM is decrypted before the tag is compared), so for SAs flagged 'esn' the
   ICV result is ignored (counted as icv_unverifiable) and only the inner
   packet decode is checked.
 * No ChaCha20-Poly1305 for ESP: such SAs are skipped (reported in notes,
   their frames counted in unsupported_packets, not in errors).
 * An ICV failure is not an expert info in 4.0; it shows only as the field
   esp.icv_bad, which this script turns into an error entry.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ENCR_GCM16 = "AES-GCM with 16 octet ICV [RFC4106]"
ENCR_CBC = "AES-CBC [RFC3602]"
AUTH = {
    "sha1": "HMAC-SHA-1-96 [RFC2404]",
    "sha256": "HMAC-SHA-256-128 [RFC4868]",
    "sha384": "HMAC-SHA-384-192 [RFC4868]",
    "sha512": "HMAC-SHA-512-256 [RFC4868]",
}
UNSUPPORTED = {"chacha20poly1305"}
SEVERITY = {0x00800000: "error", 0x00600000: "warn", 0x00400000: "note",
            0x00200000: "chat", 0x00100000: "comment"}
GROUP = {0x01000000: "checksum", 0x02000000: "sequence", 0x03000000: "response",
         0x04000000: "request", 0x05000000: "undecoded", 0x06000000: "reassemble",
         0x07000000: "malformed", 0x08000000: "debug", 0x09000000: "protocol",
         0x0a000000: "security", 0x0b000000: "comment", 0x0c000000: "decryption",
         0x0d000000: "assumption", 0x0e000000: "deprecated"}
FIELDS = ["frame.number", "frame.protocols", "esp.spi", "esp.icv_good",
          "esp.icv_bad", "_ws.expert.severity", "_ws.expert.group",
          "_ws.expert.message"]


def tshark_algs(alg):
    """vwand alg name -> (encryption algo string, auth algo string) or None."""
    if alg in UNSUPPORTED:
        return None
    m = re.fullmatch(r"aes(128|192|256)gcm16", alg)
    if m:
        return ENCR_GCM16, "NULL"
    m = re.fullmatch(r"aes(128|192|256)-(sha1|sha256|sha384|sha512)", alg)
    if m:
        return ENCR_CBC, AUTH[m.group(2)]
    raise ValueError("unknown alg %r" % alg)


def parse_sa(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (6, 7) or (len(parts) == 7 and parts[6] != "esn"):
        raise ValueError("--sa must be 'src,dst,spi,alg,keyhex,authkeyhex_or_-[,esn]': %r"
                         % text)
    src, dst, spi, alg, key, akey = parts[:6]
    key = key[2:] if key.lower().startswith("0x") else key
    akey = None if akey in ("-", "") else (akey[2:] if akey.lower().startswith("0x") else akey)
    bytes.fromhex(key)
    if akey:
        bytes.fromhex(akey)
    return {"src": src, "dst": dst, "spi": int(spi, 0), "alg": alg, "key": key,
            "auth_key": akey, "esn": len(parts) == 7}


def uat_lines(sa):
    """esp_sa UAT records for one SA (two if both addresses are '*')."""
    algs = tshark_algs(sa["alg"])
    if algs is None:
        return []
    encr, auth = algs
    if sa["src"] == "*" and sa["dst"] == "*":
        protos = ["IPv4", "IPv6"]
    else:
        addr = sa["dst"] if sa["src"] == "*" else sa["src"]
        protos = ["IPv6" if ":" in addr else "IPv4"]
    akey = "0x" + sa["auth_key"] if sa["auth_key"] and auth != "NULL" else ""
    return ['"%s","%s","%s","0x%08x","%s","0x%s","%s","%s"'
            % (p, sa["src"], sa["dst"], sa["spi"], encr, sa["key"], auth, akey)
            for p in protos]


def tshark_version(tshark):
    out = subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def run(pcap, sas, udp_ports=(), seq_analysis=False, ignore=(), tshark="tshark"):
    """Run tshark on `pcap` with the given SAs; returns the result dict."""
    res = {"esp_packets": 0, "decrypted": 0, "errors": [], "icv_good": 0,
           "icv_bad": 0, "icv_unverifiable": 0, "unsupported_packets": 0,
           "notes": [], "tshark_version": tshark_version(tshark)}
    esn_spis = {sa["spi"] for sa in sas if sa["esn"]}
    unsupported_spis = {sa["spi"] for sa in sas if sa["alg"] in UNSUPPORTED}
    for sa in sas:
        if sa["alg"] in UNSUPPORTED:
            res["notes"].append("SA spi 0x%08x: %s not supported by this tshark, "
                                "not checked" % (sa["spi"], sa["alg"]))
        elif sa["esn"]:
            res["notes"].append("SA spi 0x%08x: ESN, tshark cannot verify the ICV; "
                                "only decryption + inner decode checked" % sa["spi"])
    ignore_re = [re.compile(r) for r in ignore]
    cfg = tempfile.mkdtemp(prefix="tshark-esp-")
    try:
        with open(os.path.join(cfg, "esp_sa"), "w") as f:
            f.write("# This file is automatically generated, DO NOT MODIFY.\n")
            for sa in sas:
                for line in uat_lines(sa):
                    f.write(line + "\n")
        seq = "TRUE" if seq_analysis else "FALSE"
        prefs = {"esp.enable_encryption_decode": "TRUE",
                 "esp.enable_authentication_check": "TRUE",
                 "esp.enable_null_encryption_decode_heuristic": "FALSE",
                 "esp.do_esp_sequence_analysis": seq}
        with open(os.path.join(cfg, "preferences"), "w") as f:
            f.writelines("%s: %s\n" % kv for kv in prefs.items())
        cmd = [tshark, "-n", "-r", pcap, "-T", "json"]
        for k, v in prefs.items():
            cmd += ["-o", "%s:%s" % (k, v)]
        for port in udp_ports:
            cmd += ["-d", "udp.port==%d,udpencap" % port]
        for fld in FIELDS:
            cmd += ["-e", fld]
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=cfg)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    finally:
        shutil.rmtree(cfg, ignore_errors=True)

    for line in proc.stderr.splitlines():
        if "Running as user" in line or "could be dangerous" in line or not line.strip():
            continue
        res["errors"].append("tshark: " + line.strip())
    if proc.returncode != 0:
        res["errors"].append("tshark exited with status %d" % proc.returncode)
    try:
        frames = json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError as exc:
        res["errors"].append("cannot parse tshark JSON output: %s" % exc)
        frames = []

    for fr in frames:
        lay = fr.get("_source", {}).get("layers", {})
        num = lay.get("frame.number", ["?"])[0]
        spis = [int(s, 16) for s in lay.get("esp.spi", [])]
        frame_errors = []
        sev, grp, msg = (lay.get("_ws.expert.severity", []), lay.get("_ws.expert.group", []),
                         lay.get("_ws.expert.message", []))
        for i, m in enumerate(msg):
            s = int(sev[i]) if i < len(sev) else 0
            g = int(grp[i]) if i < len(grp) else 0
            if s < 0x00600000 or any(r.search(m) for r in ignore_re):
                continue
            frame_errors.append("frame %s [%s/%s]: %s" % (
                num, SEVERITY.get(s, hex(s)), GROUP.get(g, hex(g)), m))
        if not spis:
            res["errors"].extend(frame_errors)
            continue
        res["esp_packets"] += 1
        spi = spis[0]  # outermost ESP header
        spi_s = "0x%08x" % spi
        if spi in unsupported_spis:
            res["unsupported_packets"] += 1
            continue
        good = lay.get("esp.icv_good", [])
        bad = lay.get("esp.icv_bad", [])
        icv_ok = bool(good) and good[0] in ("1", "True", "true")
        icv_bad = bool(bad) and bad[0] in ("1", "True", "true")
        if spi in esn_spis:
            res["icv_unverifiable"] += 1
        elif icv_ok:
            res["icv_good"] += 1
        elif icv_bad:
            res["icv_bad"] += 1
            frame_errors.append("frame %s: ESP ICV bad (spi %s)" % (num, spi_s))
        else:
            frame_errors.append("frame %s: ESP ICV not checked (spi %s: no matching SA, "
                                "or packet too short)" % (num, spi_s))
        protos = lay.get("frame.protocols", [""])[0].split(":")
        inner = protos[protos.index("esp") + 1] if "esp" in protos[:-1] else None
        if inner not in ("ip", "ipv6"):
            frame_errors.append("frame %s: ESP spi %s not decrypted to an inner IP "
                                "packet (protocols %s)" % (num, spi_s, ":".join(protos)))
        if not frame_errors:
            res["decrypted"] += 1
        res["errors"].extend(frame_errors)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--sa", action="append", default=[],
                    help="'src,dst,spi,alg,keyhex,authkeyhex_or_-[,esn]' (repeatable)")
    ap.add_argument("--udp-encap", nargs="?", type=int, const=4500, action="append",
                    default=[], metavar="PORT",
                    help="decode UDP PORT (default 4500) as RFC 3948 UDP-encapsulated ESP")
    ap.add_argument("--seq-analysis", action="store_true",
                    help="enable tshark's ESP sequence analysis (gaps become warnings)")
    ap.add_argument("--ignore", action="append", default=[], metavar="REGEX",
                    help="ignore expert messages matching REGEX (repeatable)")
    ap.add_argument("--tshark", default=os.environ.get("TSHARK", "tshark"))
    args = ap.parse_args(argv)
    if shutil.which(args.tshark) is None:
        print("tshark not found: %s" % args.tshark, file=sys.stderr)
        return 2
    try:
        sas = [parse_sa(s) for s in args.sa]
        for sa in sas:
            tshark_algs(sa["alg"])
    except ValueError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    res = run(args.pcap, sas, udp_ports=args.udp_encap,
              seq_analysis=args.seq_analysis, ignore=args.ignore, tshark=args.tshark)
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
