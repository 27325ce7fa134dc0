#!/usr/bin/env bash
# Installs every Debian 12 package agentpush needs to build, test and demo,
# and the fr_FR.UTF-8 locale the translation tests use.  Idempotent: when all
# packages are already there it does not touch apt at all.
set -euo pipefail

PKGS=(
	build-essential meson ninja-build pkg-config python3 gettext
	libssh-dev libsmbclient-dev libcurl4-openssl-dev libsqlite3-dev
	libsodium-dev libcjson-dev libcmocka-dev libarchive-dev libxml2-dev
	clang libclang-rt-14-dev
	openssh-server openssh-client samba smbclient
	iproute2 util-linux procps psmisc locales man-db groff-base
	# a lossy link for tests/integration/chaos where the kernel has no
	# sch_netem (tc netem): nftables' numgen random drops the packets
	nftables
	sudo tar gzip coreutils openssl ca-certificates e2fsprogs samba-common-bin
	# sqlite3(1): tests read and damage job stores and vaults with it
	# (tests/cli/accounts.sh, tests/integration/install/install_accounts.sh)
	sqlite3
	# WinRM logons through GSS-API (lib/transport/winrm_auth.c): MIT
	# krb5's GSS-API to build (Kerberos, and the mechglue that loads
	# NTLM), and gss-ntlmssp, the NTLM mechanism, at run time: a default
	# Windows WinRM listener offers only Negotiate and Kerberos.
	libkrb5-dev gss-ntlmssp
	# curl(1): the agent reaches the configuration server through the
	# host's curl (agent/register.h), and the server tests call the API
	# with it.
	curl
	# agentpush serve: the HTTP server (libmicrohttpd, built on GnuTLS)
	# and GnuTLS itself, which makes the first-start certificate.
	libmicrohttpd-dev libgnutls28-dev
	# The real NTLM acceptor of the WinRM tests (tests/winrm/server.py
	# --auth ntlm) is gss-ntlmssp too, through python3-gssapi (for
	# /usr/bin/python3).  Tests only.
	python3-gssapi
	# winbindd, for the Samba AD member server of
	# tests/integration/windows/windows_domain.sh: its smbd checks domain
	# logons through winbindd.  Tests only.  Not libnss-winbind: its
	# postinst edits the machine's /etc/nsswitch.conf.
	winbind
	# The Samba AD domain controller of the same test: `samba-tool domain
	# provision` reads the schema from samba-ad-provision and loads the
	# DSDB ldb modules (samba-dsdb-modules); the DC's smbd serves sysvol
	# through vfs_acl_xattr (samba-vfs-modules).  Debian's samba-ad-dc
	# metapackage pulls the last two, but only recommends the first, which
	# --no-install-recommends skips: hence all three by name.  Tests only.
	samba-ad-provision samba-dsdb-modules samba-vfs-modules
	# The dashboard's browser test (tests/server/dashboard.sh): Debian's
	# Chromium, run headless from Node.js through playwright-core, which
	# the test installs itself with npm (npm: below).  Tests only.
	chromium nodejs
	# The job store's PostgreSQL driver (lib/store/drv_pg.c, libpq; its
	# pkg-config name is libpq), and the server the store tests and the
	# multi-worker tests start privately (tests/lib/pg.sh: initdb,
	# pg_ctl, psql).  Workers on several machines share one store.
	libpq-dev postgresql
)
# npm for the same test: Debian's package, unless the nodejs installed
# already brings its own npm (NodeSource's does, and conflicts with Debian's).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/deps.sh: run as root (it installs packages and, for tests, creates network namespaces)" >&2
	exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The French translation is only shown where the locale exists.
if ! locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	sed -i 's/^# *fr_FR.UTF-8 UTF-8/fr_FR.UTF-8 UTF-8/' /etc/locale.gen
	grep -q '^fr_FR.UTF-8 UTF-8' /etc/locale.gen || echo 'fr_FR.UTF-8 UTF-8' >> /etc/locale.gen
	locale-gen >/dev/null
fi

# playwright-core for the dashboard's browser test (tests/server/dashboard.sh),
# the version pinned by tests/server/package.json and its lock, installed
# now, while the machine's network is used for packages anyway: the tests
# themselves then download nothing (a bare-Debian run of them has no route
# out, tools/bare-debian.sh).  It never downloads a browser (Debian's
# chromium above).  Tests only.
src=$(cd "$(dirname "$0")/.." && pwd)
pw_dir=/var/lib/agentpush-tests/node
pw_want=$(python3 -c "import json; print(json.load(open('$src/tests/server/package.json'))['dependencies']['playwright-core'])")
if [ "$(python3 -c "import json; print(json.load(open('$pw_dir/node_modules/playwright-core/package.json'))['version'])" 2>/dev/null)" != "$pw_want" ]; then
	echo "deps: installing playwright-core $pw_want in $pw_dir (npm)"
	mkdir -p "$pw_dir"
	cp "$src/tests/server/package.json" "$src/tests/server/package-lock.json" "$pw_dir/"
	npm ci --prefix "$pw_dir" --no-audit --no-fund --ignore-scripts >/dev/null
fi

# The distribution's sshd/smbd must not run on the host itself: the test
# hosts start their own, inside network namespaces.
exit 0
