#!/bin/sh
# bench/setup.sh - what bench/run.sh needs beyond scripts/deps.sh: Ansible
# (the comparison) and the tools the script itself uses.  The tests do not
# need any of this, so it is not in scripts/deps.sh.
set -eu
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	ansible-core openssh-server openssh-client libssh-dev pkg-config gcc \
	python3 util-linux iproute2 procps
