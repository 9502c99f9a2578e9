#!/bin/sh
# Installs the Debian packages of deps/debian.txt that are missing: with
# apt-get when run as root, else names them and exits 1.  Quiet when all
# are present.
set -eu
list=$(dirname "$0")/debian.txt
missing=""
for p in $(sed 's/#.*//' "$list"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "missing Debian packages:$missing"
  echo "install them with: sudo apt-get install$missing"
  exit 1
fi
