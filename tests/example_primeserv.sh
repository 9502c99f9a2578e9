#!/usr/bin/env bash
# example_primeserv: the example server answers requests, times out a
# request the pool cannot answer within its deadline, and on SIGTERM shuts
# down gracefully (exit 0, with its summary).  Loopback only, bounded.
# Usage: example_primeserv.sh <primeserv binary> (run by GRT_TEST_EMULATOR, if set)
set -u
bin=$1
out=$(mktemp)
trap 'rm -f "$out"; kill -9 "$pid" 2>/dev/null' EXIT
${GRT_TEST_EMULATOR:-} "$bin" 0 >"$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$out" | cut -d: -f2)
[ -n "$port" ] || { echo "FAIL: no port"; cat "$out"; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '1000\n100000000\n1000000\nabc\n' >&3
replies=$(timeout 10 head -4 <&3)
exec 3>&-
echo "$replies"
echo "$replies" | grep -qx '1000: 168 primes below 1000' || { echo "FAIL: 1000"; exit 1; }
echo "$replies" | grep -qx '100000000: timeout' || { echo "FAIL: no timeout"; exit 1; }
echo "$replies" | grep -qx '1000000: 78498 primes below 1000000' || { echo "FAIL: 1e6"; exit 1; }
echo "$replies" | grep -q 'want a number' || { echo "FAIL: bad input"; exit 1; }
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
status=$?
cat "$out"
[ "$status" -eq 0 ] || { echo "FAIL: exit status $status"; exit 1; }
grep -q 'served 2 requests, 1 timed out' "$out" || { echo "FAIL: summary"; exit 1; }
echo "example_primeserv: ok"
