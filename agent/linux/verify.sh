#!/bin/sh
# verify.sh - is agentpush-agent installed, of the expected version, running?
#
# usage: verify.sh INSTALL_DIR [EXPECTED_VERSION]
#
# Prints the installed version on stdout.  Exit codes: 0 installed, matching
# and running (pid file names a live agent process: kill -0 and
# /proc/<pid>/exe), 1 not installed, 2 another version is installed, 3 not
# running, 96 bad command line.  Needs no root for a readable install dir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
LOG=
. "$here/common.sh"

[ $# -eq 1 ] || [ $# -eq 2 ] || { echo "usage: verify.sh INSTALL_DIR [EXPECTED_VERSION]" >&2; exit 96; }
dir=${1%/}
want=${2:-}

version=$(cat "$dir/VERSION" 2>/dev/null) || { echo "$AGENT is not installed in $dir" >&2; exit 1; }
echo "$version"
if [ -n "$want" ] && [ "$version" != "$want" ]; then
	echo "$AGENT $version is installed, $want was expected" >&2
	exit 2
fi
bin_version=$("$dir/bin/$AGENT" --version 2>/dev/null)
if [ "$bin_version" != "$version" ]; then
	echo "$dir/bin/$AGENT reports '$bin_version', VERSION says $version" >&2
	exit 2
fi
pid=$(running_pid "$dir") || { echo "$AGENT $version is installed but not running (pid file $(pid_file "$dir"))" >&2; exit 3; }
echo "running pid $pid" >&2
exit 0
