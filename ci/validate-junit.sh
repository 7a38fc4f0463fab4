#!/usr/bin/env bash
# Checks JUnit XML files against ci/junit.xsd: ci/validate-junit.sh report.xml ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v xmllint >/dev/null 2>&1 || { echo "xmllint not found: apt-get install libxml2-utils" >&2; exit 2; }
xmllint --noout --schema "$here/junit.xsd" "$@"
