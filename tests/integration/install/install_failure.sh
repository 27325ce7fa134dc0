#!/usr/bin/env bash
# The installer fails for real after every pre-check passed: the report
# carries the ErrorID the manifest's exit-code table names for that exit
# code, with the install log's last line as evidence, and the staging folder
# is left empty (no payload, no .part, no unpack folder).
#   ro1: /opt read-only        -> install.sh exits 99 (INSTALL_PREREQ_FAILED)
#   nx1: /opt mounted noexec   -> the agent cannot start, exits 97 (INSTALL_FAILED)
#   vf1: the install works, the package's verify command fails (it calls
#        exit itself: the cleanup run in the same invocation must still run)
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_failure
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"

it_host ro1
it_host nx1
it_host vf1
R=$HARNESS_RUN/it; mkdir -p "$R"
harness_password_file ro1 root "$R/pw.ro1"
harness_password_file nx1 root "$R/pw.nx1"
kh=$R/kh; harness_known_hosts "$kh" ro1 nx1
harness_exec ro1 mount -o remount,ro /opt
harness_exec nx1 mount -o remount,noexec /opt

# manifest_error CODE: the catalog name the package's table gives CODE
manifest_error() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["linux"]["exit_codes"][sys.argv[2]]["error"])' \
		"$IT_PKG/manifest.json" "$1"
}

# one HOST CODE ID LOGLINE_ERE
one() {
	local host=$1 code=$2 id=$3 logre=$4 a out name
	a=$(harness_host_addr "$host")
	out=$R/$host
	it_install "$out" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.$host" --format json "root@$a"
	name=$(manifest_error "$code")
	lt_expect "$host: exit 1" 1 "$(lt_rc "$out")"
	lt_expect "$host: status failed" failed "$(lt_json "$out" "t('$a')['status']")"
	lt_expect "$host: only $id (no pre-check finding, no verify)" "$id" "$(lt_json "$out" "ids('$a')")"
	lt_expect "$host: the name the manifest gives exit $code" "$name" "$(lt_json "$out" "err('$a', $id)['name']")"
	lt_expect "$host: stage install" install "$(lt_json "$out" "err('$a', $id)['stage']")"
	lt_expect_match "$host: evidence names the exit code and its meaning" "^installer exited $code \(" "$(lt_json "$out" "err('$a', $id)['evidence']")"
	lt_expect_match "$host: evidence quotes the install log" "log /var/log/agentpush-agent-install\.log: .*$logre" "$(lt_json "$out" "err('$a', $id)['evidence']")"
	echo "   evidence: $(lt_json "$out" "err('$a', $id)['evidence']")"
	lt_expect "$host: note empty" "" "$(lt_json "$out" "t('$a')['note']")"
	lt_expect "$host: staging /var/tmp holds nothing left" "" "$(it_staging_left "$host")"
	lt_expect "$host: no agent process" "" "$(it_agent_pid "$host")"
	it_install "$out.text" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.$host" "root@$a"
	lt_expect_match "$host (text): FAILED line with $id" "^FAILED +root@$a +$id " "$(cat "$out.text.out")"
	lt_expect_match "$host (text): evidence line" "evidence: installer exited $code" "$(cat "$out.text.out")"
	lt_expect_match "$host (text): summary" "^1 target: 0 ok, 0 warning, 1 failed$" "$(cat "$out.text.out")"
	lt_expect "$host (text): staging still empty" "" "$(it_staging_left "$host")"
}

one ro1 99 800407 "cannot create /opt/agentpush-agent \(read-only file system\?\)"
lt_expect "ro1: nothing installed" absent "$(harness_exec ro1 test -e "$IT_DIR" && echo present || echo absent)"
one nx1 97 800404 "did not start"

# vf1: the same package with a verify command that fails
harness_password_file vf1 root "$R/pw.vf1"
harness_known_hosts "$kh.vf1" vf1
VPKG=$R/pkg-verify-fails; mkdir -p "$VPKG"
cp "$IT_PKG"/* "$VPKG"/
python3 - "$VPKG/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["linux"]["commands"]["verify"] = "echo verify-broke >&2; exit 3"
json.dump(m, open(sys.argv[1], "w"), indent=2)
PY
a=$(harness_host_addr vf1)
out=$R/vf1
it_install "$out" --package "$VPKG" --known-hosts "$kh.vf1" --password-file "$R/pw.vf1" --format json "root@$a"
lt_expect "vf1: exit 1" 1 "$(lt_rc "$out")"
lt_expect "vf1: status failed" failed "$(lt_json "$out" "t('$a')['status']")"
lt_expect "vf1: only 800406" 800406 "$(lt_json "$out" "ids('$a')")"
lt_expect "vf1: evidence is the verify command's" "verify command exited 3; stderr: verify-broke" "$(lt_json "$out" "err('$a', 800406)['evidence']")"
lt_expect "vf1: staging /var/tmp holds nothing left" "" "$(it_staging_left vf1)"
lt_done
