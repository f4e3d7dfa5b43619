#!/usr/bin/env bash
# Checks that `rust-version` in Cargo.toml is true, without a second
# toolchain (this machine has one): every package in Cargo.lock (dev and
# build dependencies included) declares a rust-version at most ours, and
# clippy's `incompatible_msrv` (part of `cargo clippy -D warnings` in
# scripts/test.sh, now that every member inherits the workspace's
# rust-version) refuses standard-library items stabilised after it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, re, sys
m = json.load(sys.stdin)
v = lambda s: (tuple(int(x) for x in s.split(".")) + (0, 0))[:3]
ours = {p["name"]: p.get("rust_version") for p in m["packages"] if p["id"] in m["workspace_members"]}
missing = [n for n, r in ours.items() if not r]
if missing:
    sys.exit(f"msrv: no rust-version in {missing} (add rust-version.workspace = true)")
msrv = max(v(r) for r in ours.values())
over = sorted("%s %s needs %s" % (p["name"], p["version"], p["rust_version"])
              for p in m["packages"] if p.get("rust_version") and v(p["rust_version"]) > msrv)
if over:
    sys.exit("msrv: rust-version %s is too low: %s" % (".".join(map(str, msrv)), "; ".join(over)))
top = max((v(p["rust_version"]), p["name"]) for p in m["packages"] if p.get("rust_version") and p["id"] not in m["workspace_members"])
print("msrv: rust-version %s; the highest a dependency needs: %s (%s)" % (".".join(map(str, msrv)), ".".join(map(str, top[0])), top[1]))
'
