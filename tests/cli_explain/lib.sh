# Sourced by the explain tests, whose first argument is the explain_driver
# program.  EXPLAIN runs "explain ARGS": the real agentpush when its main()
# dispatches "explain", else explain_driver, which calls the same
# cmd_explain() with the same locale set-up.
EXPLAIN_DRIVER=${1:?usage: $0 EXPLAIN_DRIVER}
: "${AGENTPUSH:?}" "${AP_SOURCE_ROOT:?}"
if "$AGENTPUSH" explain --help 2>/dev/null | grep -q 'agentpush explain'; then
	EXPLAIN=$AGENTPUSH
else
	EXPLAIN=$EXPLAIN_DRIVER
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
