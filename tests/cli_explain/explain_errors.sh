#!/bin/sh
# Bad input: exit 2 with exactly one line on stderr and nothing on stdout.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
bad_usage "agentpush explain: no ErrorID 12345 in the catalog (see 'agentpush explain --list')" 12345
bad_usage "" NO_SUCH_NAME
bad_usage "" 95108x
bad_usage "" 99999999999999999999
bad_usage "" --bogus
bad_usage "" 95108 --format xml
bad_usage "" --format
bad_usage "" --list 95108
bad_usage "" 95108 95107
bad_usage "" -z
bad_usage ""
echo "explain_errors: ok"
