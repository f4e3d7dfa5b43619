#!/usr/bin/env bash
# Runs the AES-256-GCM ESP benchmarks and the bare ring AES-256-GCM baseline,
# then prints how much ESP adds over the AEAD at each packet size.
#
#   bench/esp_overhead.sh            # run, then print the table
#   NO_RUN=1 bench/esp_overhead.sh   # only print the table from the last run
#
# Extra arguments go to criterion, e.g. --measurement-time 10.
set -euo pipefail

cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"

if [[ -z "${NO_RUN:-}" ]]; then
    # The filter matches esp/aes256gcm16/* and ring/aes256gcm/* only.
    cargo bench -p vwand-bench --bench esp -- \
        --warm-up-time 1 --measurement-time 3 "$@" 'aes256gcm'
fi

python3 - "$target_dir/criterion" <<'PY'
import glob, json, os, sys

root = sys.argv[1]
means = {}  # full id -> mean in ns
for bj in glob.glob(os.path.join(root, "**", "new", "benchmark.json"), recursive=True):
    est = os.path.join(os.path.dirname(bj), "estimates.json")
    if not os.path.exists(est):
        continue
    with open(bj) as f:
        full_id = json.load(f)["full_id"]
    with open(est) as f:
        means[full_id] = json.load(f)["mean"]["point_estimate"]

def get(kind, op, size):
    prefix = {"esp": "esp/aes256gcm16", "ring": "ring/aes256gcm"}[kind]
    return means.get(f"{prefix}/{op}/{size}")

def ns(v):
    return "-" if v is None else (f"{v:.1f}" if v < 1000 else f"{v:.0f}")

def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.3f}"

sizes = sorted({int(k.rsplit("/", 1)[1]) for k in means
                if k.startswith(("esp/aes256gcm16/", "ring/aes256gcm/"))})
if not sizes:
    sys.exit(f"no esp/aes256gcm16 or ring/aes256gcm results under {root}")
print()
print("AES-256-GCM: ESP (esp/aes256gcm16) vs bare ring (ring/aes256gcm), mean ns per packet")
print("(*_esp: ring on the bytes ESP encrypts, i.e. size + trailer + padding to 4)")
cols = ("size", "encap", "seal", "encap/seal", "decap", "open", "decap/open",
        "seal_esp", "encap/seal_esp", "open_esp", "decap/open_esp")
widths = (6, 10, 10, 11, 10, 10, 11, 10, 15, 10, 15)
fmt = " ".join("%%%ds" % w for w in widths)
print(fmt % cols)
for s in sizes:
    e, se, see = get("esp", "encap", s), get("ring", "seal", s), get("ring", "seal_esp", s)
    d, o, oe = get("esp", "decap", s), get("ring", "open", s), get("ring", "open_esp", s)
    print(fmt % (s, ns(e), ns(se), ratio(e, se), ns(d), ns(o), ratio(d, o),
                 ns(see), ratio(e, see), ns(oe), ratio(d, oe)))
PY
