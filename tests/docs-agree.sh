#!/bin/sh
# Every option in `wspipe --help` is documented in man/wspipe.1 and in the
# README, and every option the man page documents is in --help.
# Emits TAP.
set -u
top=${top_srcdir:-$(dirname "$0")/..}
wspipe=${WSPIPE:-$top/src/wspipe}
help=$("$wspipe" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
man=$(grep -o '^\.It Fl -[a-z][a-z-]*' "$top/man/wspipe.1" | sed 's/^\.It Fl -/--/' | sort -u)
n=0
fail=0
check() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fail=1
	fi
}
for o in $help; do
	echo "$man" | grep -qx -- "$o"
	check $? "$o from --help is an .It entry of the man page"
	grep -q -- "\`$o" "$top/README.md"
	check $? "$o from --help is in the README"
done
for o in $man; do
	echo "$help" | grep -qx -- "$o"
	check $? "$o from the man page is in --help"
done
"$wspipe" --help | sed -n '/^usage:/,/--version$/p' > /tmp/wspipe-usage.$$
grep -q 'usage: wspipe \[--address=addr\]' /tmp/wspipe-usage.$$
check $? "usage() starts with the synopsis"
rm -f /tmp/wspipe-usage.$$
echo "1..$n"
exit $fail
