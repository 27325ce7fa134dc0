# common.sh - shared by install.sh, uninstall.sh and verify.sh (POSIX sh).
# Sourced, never run.  Callers set LOG (install log path, may be empty).
#
# Layout of an installed agent under $dir:
#   bin/agentpush-agent   the daemon
#   lib/                  common.sh uninstall.sh verify.sh (for later runs)
#   VERSION               written last: its presence means "installed"
#   run/agentpush-agent.pid, log/agentpush-agent.log   (the daemon's own)

AGENT=agentpush-agent
UNIT=agentpush-agent.service
UNIT_PATH=/etc/systemd/system/$UNIT

log() {
	_line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $(basename "$0"): $*"
	echo "$_line"
	if [ -n "${LOG:-}" ]; then
		{ echo "$_line" >>"$LOG"; } 2>/dev/null || true
	fi
}

# fail CODE MESSAGE: logs "ERROR: MESSAGE" (to stderr too) and exits CODE.
fail() {
	_code=$1
	shift
	log "ERROR: $* (exit $_code)" >&2
	exit "$_code"
}

# systemd is PID 1 and running (not "offline", as in a container).
use_systemd() {
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] || return 1
	command -v systemctl >/dev/null 2>&1 || return 1
	_st=$(systemctl is-system-running 2>/dev/null)
	[ -n "$_st" ] && [ "$_st" != offline ]
}

# parse_args "$@": the command line of install.sh and uninstall.sh,
# "[--log FILE] INSTALL_DIR".  Sets LOG and dir (absolute, not "/", without
# a trailing slash); exits 96 on anything else.
parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--log)
			[ $# -ge 2 ] || fail 96 "--log needs a file name"
			LOG=$2
			shift 2
			;;
		--) shift; break ;;
		-*) fail 96 "unknown option $1" ;;
		*) break ;;
		esac
	done
	[ $# -eq 1 ] || fail 96 "usage: $(basename "$0") [--log FILE] INSTALL_DIR"
	case "$1" in
	/) fail 96 "refusing to use / as the install folder" ;;
	/*) ;;
	*) fail 96 "the install folder must be an absolute path, got '$1'" ;;
	esac
	dir=${1%/}
}

pid_file() {
	echo "$1/run/$AGENT.pid"
}

# running_pid DIR: prints the agent's pid and succeeds iff the pid file names
# a live process whose executable is DIR/bin/agentpush-agent (so a recycled
# pid is not taken for the agent).
running_pid() {
	_pf=$(pid_file "$1")
	[ -r "$_pf" ] || return 1
	_pid=$(head -n 1 "$_pf" 2>/dev/null)
	case "$_pid" in
	'' | *[!0-9]*) return 1 ;;
	esac
	kill -0 "$_pid" 2>/dev/null || return 1
	_exe=$(readlink "/proc/$_pid/exe" 2>/dev/null) || return 1
	_want="$(cd "$1" 2>/dev/null && pwd -P)/bin/$AGENT"
	case "$_exe" in
	"$_want" | "$_want (deleted)") ;;
	*) return 1 ;;
	esac
	echo "$_pid"
}

# stop_agent DIR: stops a running agent (SIGTERM, then SIGKILL after 10 s).
stop_agent() {
	if use_systemd && [ -f "$UNIT_PATH" ]; then
		systemctl stop "$UNIT" >/dev/null 2>&1 || true
	fi
	_pid=$(running_pid "$1") || return 0
	log "stopping $AGENT (pid $_pid)"
	kill -TERM "$_pid" 2>/dev/null || return 0
	_i=0
	while kill -0 "$_pid" 2>/dev/null; do
		_i=$((_i + 1))
		if [ "$_i" -gt 100 ]; then
			log "pid $_pid ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$_pid" 2>/dev/null || true
			rm -f "$(pid_file "$1")"
			break
		fi
		sleep 0.1
	done
	return 0
}

# start_agent DIR: starts the agent (systemd unit, or the daemon's own
# daemonizing: it returns once its pid file is written).
start_agent() {
	if use_systemd; then
		cat >"$UNIT_PATH.tmp" <<UNIT_EOF || return 1
[Unit]
Description=agentpush mobility agent
After=network-online.target

[Service]
Type=simple
ExecStart="$1/bin/$AGENT" --foreground --install-dir "$1"
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT_EOF
		mv -f "$UNIT_PATH.tmp" "$UNIT_PATH" || return 1
		systemctl daemon-reload || return 1
		systemctl enable "$UNIT" >/dev/null 2>&1 || return 1
		systemctl restart "$UNIT" || return 1
		# Type=simple: wait for the pid file the agent writes.
		_i=0
		until running_pid "$1" >/dev/null; do
			_i=$((_i + 1))
			[ "$_i" -le 100 ] || return 1
			sleep 0.1
		done
		return 0
	fi
	"$1/bin/$AGENT" --install-dir "$1"
}
