#!/usr/bin/env bash
# Runs every command of the CLI on small inputs and writes a digest of every output file, so that two builds can be
# compared file by file (refactors must not change results):
#
#   .ci/outputs.sh target/release/imanifold /tmp/outputs-before
#   ... change the code, rebuild ...
#   .ci/outputs.sh target/release/imanifold /tmp/outputs-after
#   diff /tmp/outputs-before/digest.txt /tmp/outputs-after/digest.txt
#
# The runs happen in one fixed folder (/tmp/imanifold-outputs/run, so paths written into results.json agree) and are
# then moved to DEST. JSON files and CSV tables are digested after removing timings (keys or columns holding seconds
# or rates), HTML after masking one-decimal numbers (the report's timings); everything else byte for byte.
# Same seed, so any other difference is a change in results.
set -euo pipefail
digest() {
  python3 - <<'EOF' >digest.txt
import csv, hashlib, io, json, os, re
TIME = re.compile(r"(second|timing|gflop|per_s|elapsed|_ms$|duration)", re.I)
def scrub(v):
    if isinstance(v, dict) and isinstance(v.get("command_line"), list) and v["command_line"]:
        v = dict(v, command_line=["imanifold"] + v["command_line"][1:])  # the binary's path differs per checkout
    if isinstance(v, dict):
        return {k: scrub(x) for k, x in v.items() if not TIME.search(k)}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return v
for root, dirs, files in os.walk("."):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(root, f)
        if p in ("./digest.txt", "./stderr.txt", "./stdout.txt"):
            continue
        raw = open(p, "rb").read()
        if f.endswith(".json"):
            raw = json.dumps(scrub(json.loads(raw)), sort_keys=True).encode()
        elif f.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(raw.decode())))
            keep = [i for i, h in enumerate(rows[0] if rows else []) if not TIME.search(h)]
            raw = "\n".join(",".join(r[i] for i in keep if i < len(r)) for r in rows).encode()
        elif f.endswith(".html"):
            # Timings in the report's text and tables: "13.8 s", and one-decimal cells of the timing table.
            raw = re.sub(rb"\b[0-9]+\.[0-9](\s*s)?\b", b"T", raw)
        print(hashlib.sha256(raw).hexdigest()[:16], p)
EOF
}

# .ci/outputs.sh --digest DIR: recompute DIR/digest.txt of an existing output folder.
if [ "${1:-}" = "--digest" ]; then
  cd "$2" && digest && wc -l digest.txt
  exit 0
fi

bin=$(realpath "$1")
dest=$2
work=/tmp/imanifold-outputs/run
rm -rf "$work" && mkdir -p "$work"
cd "$work"
# log.txt: each command line and its exit code (stdout repeats results.json, with timings; it is not digested).
run() {
  local rc=0
  "$bin" --quiet --threads 2 "$@" >>stdout.txt 2>>stderr.txt || rc=$?
  echo "imanifold $* -> exit $rc" >>log.txt
}

# Render: an unlabelled turntable with ground truth, an object set, a labelled shapes10 set for the classifier.
run render --scene turntable --vary spin --n 40 --sampling trajectory --size 32 --gray --seed 1 --depth --flow --npy --out tt
run render --scene object --vary yaw,pitch --n 24 --size 32 --gray --seed 2 --out obj
run render --scene shapes10 --vary yaw,pitch,light_azimuth --n 200 --size 16 --seed 3 --out shapes
run render --scene shapes10 --vary yaw,pitch,light_azimuth --n 60 --size 16 --seed 4 --out shapes_test
run info tt --json
run info shapes --rgb --resize 8x8 --json
run neighbors tt --k 5 --out nb --json
run neighbors tt --k 3 --query obj --strategy brute --out nbq
run dim tt --estimator mle --estimator twonn --estimator lpca --estimator imanifold --pointwise --k 8 --k-range 5:8 \
  --out dim --json
run dim tt/images.npy --estimator danco --estimator corrint --estimator mle --estimator mle:comb=median --out dim2
run geodesic tt --k 6 --truth spin --periodic spin=360 --out geo --json
run geodesic obj --k 5 --metric euclidean --out geo2
run score --reference tt --query obj --methods knn,tangent,lid,flow --k 8 --out score --json
run flow tt/images/$(ls tt/images | sed -n 1p) tt/images/$(ls tt/images | sed -n 2p) --out flow1.npy --viz flow1.png \
  --json
printf 'a,b\nimages/%s,images/%s\nimages/%s,images/%s\n' \
  "$(ls tt/images | sed -n 3p)" "$(ls tt/images | sed -n 4p)" "$(ls tt/images | sed -n 5p)" "$(ls tt/images | sed -n 6p)" \
  >tt_pairs.csv
cp tt_pairs.csv tt/pairs.csv
run flow --pairs tt/pairs.csv --png --out flowb --json
run interpolate tt/images/$(ls tt/images | sed -n 1p) tt/images/$(ls tt/images | sed -n 3p) --steps 4 --out interp
run classifier train --data shapes --out model --epochs 2 --channels 4,8 --hidden 16 --json
run classifier eval --model model --data shapes_test --out eval --json
run fool --model model --method evolve-direct --classes all --generations 20 --population 8 --out fool_d --json
run fool --model model --method gradient-ascent --classes all --generations 20 --out fool_g
run adversarial --model model --data shapes_test --method pgd --steps 5 --random-trials 5 --out adv --json
run adversarial --model model --data shapes_test --method fgsm --random-trials 5 --out adv_fgsm
run score --reference shapes --pairs adv/pairs.csv --k 8 --out score_pairs --json
rm tt/pairs.csv
run demo --quick --out demo

cd /tmp/imanifold-outputs
rm -rf "$dest" && mv run "$dest"
cd "$dest"
digest
wc -l digest.txt
