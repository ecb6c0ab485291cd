#!/usr/bin/env bash
# The main job on the shipped sample data:
#   1. RECIST 1.1 on the sample study's annotations (sample_dicom/), response table printed;
#   2. the study pipeline on a synthetic cohort calibrated to the founding study:
#      annotations -> recist-tool batch -> recist-tool survival -> export report.
# Results go to OUTDIR (default out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT="${1:-out/demo}"
RT=.venv/bin/recist-tool
mkdir -p "$OUT"

echo "== RECIST 1.1 on the sample study (sample_dicom/annotations.csv)"
"$RT" batch sample_dicom/annotations.csv -o "$OUT/sample"

echo
echo "== Synthetic cohort calibrated to the founding study (211 patients)"
"$RT" synth cohort --n 211 --seed 2018 -o "$OUT/cohort"
"$RT" batch "$OUT/cohort/annotations.csv" -o "$OUT/cohort/recist" -q
"$RT" survival --clinical "$OUT/cohort/clinical.csv" \
  --responses "$OUT/cohort/recist/patients.csv" \
  --treatments "$OUT/cohort/treatments.csv" \
  --endpoint os --endpoint pfs -o "$OUT/survival"
"$RT" export report "$OUT/cohort/recist" "$OUT/cohort/annotations.csv" \
  --survival "$OUT/survival" --treatments "$OUT/cohort/treatments.csv" -o "$OUT/report"

echo
echo "Results in $OUT/: sample/ (RECIST tables), cohort/ (synthetic data and its RECIST"
echo "tables), survival/ (Kaplan-Meier, log-rank, Cox tables and figures), report/ (cohort"
echo "report: HTML and PDF with waterfall, spider and swimmer plots)."
