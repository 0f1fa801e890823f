#!/bin/sh
# A tool given an unknown option, an option without its value or a bad number refuses with
# exit status 2 and a message that names what is wrong, before doing anything.
#   cli_args.sh TOOL BINARY
# Each case: the arguments, then the text the message must contain.
set -u
tool=$1 bin=$2
[ -x "$bin" ] || { echo "cli_args: $bin is not built"; exit 1; }
failed=0
expect() {  # expect TEXT ARGS...
  text=$1; shift
  out=$("$bin" "$@" 2>&1 < /dev/null)
  code=$?
  if [ "$code" != 2 ]; then
    echo "FAIL: $tool $*: exit $code, want 2"; echo "$out" | sed 's/^/  /'; failed=1
  elif ! printf '%s\n' "$out" | grep -qF -- "$text"; then
    echo "FAIL: $tool $*: the message does not say \"$text\""; echo "$out" | sed 's/^/  /'; failed=1
  else
    echo "ok: $tool $* -> $(printf '%s\n' "$out" | grep -F -- "$text" | head -1)"
  fi
}
case $tool in
  sedgectl)
    expect "unknown option '--bogus'" --bogus status
    expect "unknown option '--bogus'" status --bogus
    expect "unknown command 'bogus'" bogus
    expect "unexpected argument 'extra'" list extra
    expect "unknown option '--config-dir'" status --config-dir /tmp
    expect "option '--config-dir' needs an argument" check --config-dir
    expect "unknown option '--bogus'" onboard --bogus run
    expect "unknown command 'bogus'" onboard bogus
    expect "missing the COMMAND" onboard
    expect "unexpected argument 'extra'" onboard status extra
    expect "option '--config-dir' needs an argument" onboard reset --config-dir
    expect "--config-dir is for export-idtoken and reset" onboard --config-dir /tmp run
    expect "unexpected argument 'extra'" metrics extra
    ;;
  sedge-tpm)
    expect "unknown option '--bogus'" --bogus ek
    expect "option '--tcti' needs a value" --tcti
    expect "unknown command 'bogus'" bogus
    expect "unknown option '--bogus' for ak" ak --bogus 1
    expect "--handle: not a handle: 'abc'" ak --handle abc
    expect "--ek-handle: not a handle: '0x1ffffffff'" activate --ek-handle 0x1ffffffff c s
    expect "option '--ak-handle' needs a value" quote --ak-handle
    expect "unknown option '--persist' for tlskey" tlskey --persist 0x81000001 out
    ;;
  sedge-conductor)
    expect "--token-ttl: 'abc' is not valid: expected a whole number" --token-ttl abc token router-1
    expect "--token-ttl: '0' is not valid" --token-ttl 0 token router-1
    expect "--port: '70000' is not valid: expected a whole number from 1 to 65535" --port 70000 serve
    expect "--management-port: '9x' is not valid" --management-port 9x serve
    expect "unknown option '--bogus'" --bogus init
    expect "option '--state' needs a value" init --state
    ;;
  sedge-steer)
    expect "unknown option '--bogus'" --bogus apply
    expect "option '--pin' needs a value" counter rule 1 --pin
    expect "INDEX: 'x' is not valid: expected a whole number" set-active 1 x
    expect "PROFILE_ID: '1x' is not valid" set-active 1x 0
    expect "ID: '1.5' is not valid" counter path 1.5
    expect "--path takes NAME=DEVICE[@GATEWAY], not 'wan0'" apply --path wan0
    expect "wrong arguments for 'counter'" counter bogus 1
    ;;
  sedge-connect)
    expect "unrecognized option '--bogus'" --bogus tunnel
    expect "--rekey-at: 'abc' is not a number" --rekey-at abc tunnel
    expect "--child-lifetime: '-5' is not a number" --child-lifetime -5 tunnel
    expect "option '--ike-lifetime' requires an argument" --ike-lifetime
    expect "SECONDS: '1x' is not a number" tunnel 1x
    ;;
  *) echo "cli_args: no cases for $tool"; exit 1 ;;
esac
exit $failed
