#!/bin/sh
# promtool (Debian's prometheus package) checks the metrics text that metrics_test asserts the
# formatter writes for its fixed input: the exposition format and Prometheus' naming lints.
command -v promtool > /dev/null || { echo "promtool is missing: apt-get install prometheus (scripts/install-deps.sh)"; exit 77; }
out=$(promtool check metrics < "$1" 2>&1)
code=$?
echo "$out"
[ "$code" = 0 ] && [ -z "$out" ] || { echo "promtool check metrics: exit $code, or lint problems above"; exit 1; }
echo "promtool check metrics: no problems"
