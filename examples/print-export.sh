#!/usr/bin/env bash
# Look at a record's chart page as it prints: export it to HTML, then let headless Chromium take a screenshot and
# print it to PDF (page numbers and the client id on every page, the signature line on the last).
# Use: examples/print-export.sh RECORD_ID [OUT_DIR]   (with --db, IOP_FACILITY, IOP_COUNSELOR as you use them)
# Needs chromium (Debian/Ubuntu: apt-get install chromium). The files hold PHI: they are written 0600.
set -euo pipefail
id="${1:?give a record id}"
out="${2:-.}"
umask 077
iop records export "$id" --format html -o "$out/record-$id.html"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
"$browser" --headless --no-sandbox --disable-gpu --window-size=900,1400 \
  --screenshot="$out/record-$id.png" "file://$(cd "$out" && pwd)/record-$id.html" 2>/dev/null
"$browser" --headless --no-sandbox --disable-gpu \
  --print-to-pdf="$out/record-$id.pdf" "file://$(cd "$out" && pwd)/record-$id.html" 2>/dev/null
echo "wrote $out/record-$id.html, .png and .pdf"
