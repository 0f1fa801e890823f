#!/usr/bin/env bash
# The bash completion of sedgectl, for inputs whose completions do not depend on a running
# sedged: commands, options, onboard's commands and --config-dir's directories.
# Usage: completion_test.sh systemd/completion/sedgectl.bash
set -uo pipefail
# shellcheck source=/dev/null
source "$1" || { echo "FAIL: cannot source $1"; exit 1; }

failed=0
passed=0
# expect "WORDS..." "EXPECTED COMPLETIONS": the last word is the one being completed. Compared
# as sorted sets, as bash shows them.
expect() {
  read -r -a COMP_WORDS <<<"$1"
  [[ $1 == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE=$1
  COMP_POINT=${#1}
  _sedgectl
  local got want
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' ')
  want=$(tr ' ' '\n' <<<"$2" | sort | paste -sd' ')
  if [[ $got == "$want" ]]; then
    passed=$((passed + 1))
  else
    echo "FAIL '$1': expected '$2', got '$got'"
    failed=$((failed + 1))
  fi
}

[[ $(complete -p sedgectl 2>/dev/null) == "complete -F _sedgectl sedgectl" ]] ||
  { echo "FAIL: no 'complete -F _sedgectl sedgectl'"; failed=$((failed + 1)); }

expect "sedgectl " "status list sa steering up down monitor describe metrics reload check onboard help"
expect "sedgectl st" "status steering"
expect "sedgectl d" "down describe"
expect "sedgectl m" "monitor metrics"
expect "sedgectl --" "--json --user-bus --help"
expect "sedgectl --json s" "status sa steering"
expect "sedgectl --user-bus monitor --j" "--json"
expect "sedgectl status --" "--json --user-bus --help"
expect "sedgectl check --" "--json --user-bus --help --config-dir"
expect "sedgectl check --c" "--config-dir"
expect "sedgectl list " ""
expect "sedgectl reload x" ""
expect "sedgectl onboard " "export-idtoken run status reset"
expect "sedgectl onboard r" "run reset"
expect "sedgectl onboard -" "--json --user-bus --help --config-dir"
expect "sedgectl onboard --c" "--config-dir"
expect "sedgectl onboard --config-dir /etc/sedge e" "export-idtoken"
expect "sedgectl onboard run " ""

# --config-dir completes directories, not files.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/conf.a" "$scratch/conf.b"
touch "$scratch/conf.file"
cd "$scratch" || exit 1
expect "sedgectl check --config-dir conf" "conf.a conf.b"
expect "sedgectl onboard --config-dir conf" "conf.a conf.b"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
