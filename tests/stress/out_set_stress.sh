#!/usr/bin/env bash
# Two runs writing the same --out at once, and kill -9 at random moments: the output
# directory must always hold one complete results set of one run (or nothing), never files
# of different runs side by side.
#
# Usage: tests/stress/out_set_stress.sh [PAIRS=100] [CLI=build/app/tensorllm]
# Prints the counts; exits 1 when any set is mixed, incomplete or fails its checksum.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-100}
cli=${2:-$root/build/app/tensorllm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"

check_set() {  # prints ok | absent | bad:<reason>
  /usr/bin/python3 - "$1" <<'PY'
import csv, hashlib, json, os, sys
d = sys.argv[1]
if not os.path.exists(d):
    print("absent"); sys.exit()
want = {"results.json", "layers.csv", "heads.csv", "spectra.csv", "head_spectra.csv", "trace.csv", ".tensorllm-output.json"}
have = set(os.listdir(d))
if have != want:
    print("bad:files " + ",".join(sorted(have ^ want))); sys.exit()
doc = json.load(open(f"{d}/results.json"))
ranks_json = [tuple(l["ranks"]) for l in doc["layers"]]
rows = list(csv.DictReader(open(f"{d}/layers.csv")))
ranks_csv = [tuple(int(r[k]) for k in ("R1", "R2", "R3")) for r in rows]
heads = {int(r["layer"]) for r in csv.DictReader(open(f"{d}/heads.csv"))}
if ranks_json != ranks_csv:
    print(f"bad:mixed results.json {ranks_json} layers.csv {ranks_csv}"); sys.exit()
if heads != {l["layer"] for l in doc["layers"]}:
    print("bad:mixed heads.csv"); sys.exit()
print("ok")
PY
}

declare -A count=([ok]=0 [absent]=0 [bad]=0 [locked]=0 [killed]=0 [both_ok]=0)
for ((i = 0; i < pairs; i++)); do
  "$cli" decompose --demo --layers 0 --ranks 16,8,2 --no-spectra --quiet --out "$out" >"$work/a.log" 2>&1 &
  a=$!
  "$cli" decompose --demo --layers 0,1 --ranks 8,4,2 --no-spectra --quiet --out "$out" >"$work/b.log" 2>&1 &
  b=$!
  if ((i % 2 == 0)); then  # kill one of them at a random moment
    sleep "$(printf "0.%03d" $((RANDOM % 120)))"
    victim=$([[ $((RANDOM % 2)) == 0 ]] && echo $a || echo $b)
    kill -9 "$victim" 2>/dev/null && count[killed]=$((count[killed] + 1))
  fi
  wait $a; ra=$?
  wait $b; rb=$?
  grep -q "another tensorllm run" "$work/a.log" "$work/b.log" && count[locked]=$((count[locked] + 1))
  ((ra == 0 && rb == 0)) && count[both_ok]=$((count[both_ok] + 1))
  r=$(check_set "$out")
  case $r in
    ok) count[ok]=$((count[ok] + 1)) ;;
    absent) count[absent]=$((count[absent] + 1)) ;;
    *) count[bad]=$((count[bad] + 1)); echo "pair $i: $r" ;;
  esac
done
# Leftovers of killed runs are removed by the next run on the same output.
"$cli" decompose --demo --layers 0 --ranks 16,8,2 --no-spectra --quiet --out "$out" >/dev/null 2>&1
left=$(find "$work" -maxdepth 1 -name 'out.tmp-*' | wc -l)
echo "pairs $pairs: complete sets ${count[ok]}, no output yet ${count[absent]}, mixed or incomplete ${count[bad]};" \
     "runs killed ${count[killed]}, second run refused by the lock ${count[locked]}, both runs finished ${count[both_ok]};" \
     "temporary directories left after a final run: $left"
((count[bad] == 0 && left == 0))
