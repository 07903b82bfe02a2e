#!/bin/sh
# Runs a command and prints its peak anonymous resident memory (heap, stacks: what it holds beyond mapped files)
# and its peak file-backed resident memory (pages of memory-mapped inputs and of the binary), sampled every 0.2 s
# from /proc/PID/status (Linux). Usage: datasets/tools/peak_anon.sh COMMAND [ARGS...]
"$@" &
pid=$!
anon=0
file=0
while kill -0 "$pid" 2>/dev/null; do
  a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  f=$(awk '/^RssFile:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
  [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
  sleep 0.2
done
wait "$pid"
rc=$?
echo "peak RssAnon $((anon / 1024)) MiB, peak RssFile $((file / 1024)) MiB, exit $rc" >&2
exit $rc
