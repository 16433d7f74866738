#!/bin/sh
# Sensors that speak plain HTTP: every second each posts a reading to
# $URL/NAME (curl -X POST), as a device with nothing but curl would.  A
# post the gateway cannot take yet (it is starting) is simply tried again
# a second later.  SIGTERM ends every sensor.
names="hall kitchen cellar attic garage porch office lab"
pids=
trap '[ -n "$pids" ] && kill $pids 2>/dev/null; exit 0' TERM INT HUP
n=0
for name in $names; do
    n=$((n + 1))
    [ "$n" -gt "${SENSORS:-5}" ] && break
    (
        t=$((150 + n * 17))
        while :; do
            t=$((t + $(od -An -N1 -tu1 /dev/urandom) % 11 - 5))
            [ "$t" -lt 100 ] && t=100
            [ "$t" -gt 300 ] && t=300
            curl -fsS -o /dev/null -X POST --data-binary \
                "{\"celsius\": $((t / 10)).$((t % 10))}" "$URL/$name" \
                2>/dev/null
            sleep 1
        done
    ) &
    pids="$pids $!"
done
wait
