#!/usr/bin/env bash
# The desk's nightly job (kb/guide/report.md): check every claim, record the run, write the report
# into report/, then build the site into site/. Arguments go to `claimdesk nightly` (--today,
# --fail-on, --store, --out, --format). The desk is this repository's, or $CLAIMDESK_DESK; the tools
# are in .venv/bin, or $CLAIMDESK_BIN.
#
# Exit code: the nightly's. 0: no claim has a failing status; 1: one has (the site is still built,
# so the report that says so is published); 2: the desk cannot be read or the store is in use
# (nothing is built); a site that does not build is 2 as well.
#
# cron, every night at 05:17 (see the README):
#   17 5 * * * cd /path/to/desk && scripts/nightly.sh >> report/nightly.log 2>&1
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CLAIMDESK_BIN:-$here/.venv/bin}"
cd "${CLAIMDESK_DESK:-$here}"

"$bin/claimdesk" nightly "$@"
status=$?
if [ "$status" -ge 2 ]; then
    exit "$status"
fi
"$bin/mkdocs" build --quiet --strict --site-dir site || exit 2
exit "$status"
