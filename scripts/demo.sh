#!/usr/bin/env bash
# The main job on the shipped sample data:
#   1. RECIST 1.1 on the sample study's annotations (sample_dicom/), response table printed;
#   2. the study pipeline on a synthetic cohort calibrated to the founding study:
#      annotations -> recist-tool batch -> recist-tool survival -> export report;
#   3. double reading: two readers, adjudication, agreement, survival per reader.
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
  --endpoint os --endpoint pfs --figure-format png,svg,pdf -o "$OUT/survival"
"$RT" export report "$OUT/cohort/recist" "$OUT/cohort/annotations.csv" \
  --survival "$OUT/survival" --treatments "$OUT/cohort/treatments.csv" -o "$OUT/report"

echo
echo "== Double reading: two readers, adjudication, agreement, survival per reader"
rm -rf "$OUT/double"
"$RT" synth double-read --n 211 --seed 14 -o "$OUT/double"
"$RT" worklist status "$OUT/double"
"$RT" adjudicate "$OUT/double"
"$RT" agreement "$OUT/double"
"$RT" adjudicate "$OUT/double" --decisions "$OUT/double/oracle_decisions.csv" \
  --adjudicator oracle -q
"$RT" adjudicate "$OUT/double" --accept-concordant -q
"$RT" worklist status "$OUT/double"
"$RT" batch "$OUT/double/readings/adjudicated" -o "$OUT/double/recist_adjudicated" -q
"$RT" survival --clinical "$OUT/double/clinical.csv" --treatments "$OUT/double/treatments.csv" \
  --responses reader1="$OUT/double/readings/reader1" \
  --responses reader2="$OUT/double/readings/reader2" \
  --responses adjudicated="$OUT/double/recist_adjudicated" \
  --endpoint os --endpoint pfs -o "$OUT/survival_by_reader"
"$RT" export report "$OUT/double/recist_adjudicated" --agreement "$OUT/double/agreement" \
  -o "$OUT/report_double"

echo
echo "Results in $OUT/: sample/ (RECIST tables), cohort/ (synthetic data and its RECIST"
echo "tables), survival/ (Kaplan-Meier, log-rank, Cox tables and figures), report/ (cohort"
echo "report: HTML and PDF with waterfall, spider and swimmer plots), double/ (a double-read"
echo "cohort: readings per reader, adjudication.csv, readings/adjudicated/, agreement/),"
echo "survival_by_reader/ (every analysis per reader side by side), report_double/."
