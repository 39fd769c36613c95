#!/bin/sh
# Debian packages the test suite needs beyond the base machine, installed
# when missing (the suite runs as root in CI):
#   uidmap  newuidmap/newgidmap: a rootless executor maps its subordinate ids
#           (tests/test_sandbox.py, the rootless deployment)
#   iproute2 ip: the network namespaces of the egress tests
set -u
missing=""
command -v newuidmap >/dev/null 2>&1 || missing="$missing uidmap"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
    exit 0
fi
echo "installing Debian packages:$missing" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; } \
    || echo "could not install$missing: the tests that need them will fail" >&2
