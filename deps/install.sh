#!/bin/sh
# Installs the Debian packages of deps/debian.txt that are missing: with
# apt-get when run as root, else names them and exits 1.  Quiet when all
# are present.
set -eu
# An optional argument names another list (deps/debian-aarch64.txt).
list=${1:-$(dirname "$0")/debian.txt}
missing=""
for p in $(sed 's/#.*//' "$list"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$missing"
  case "$missing" in
  *:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 ;;
  esac
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "missing Debian packages:$missing"
  echo "install them with: sudo apt-get install$missing"
  exit 1
fi
