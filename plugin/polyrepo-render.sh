#!/bin/sh
# Runs $HELM_PLUGIN_DIR/bin/polyrepo-render when it is there, else
# polyrepo-render from PATH. Arguments (--post-renderer-args) pass through;
# the working directory is the user's, so relative paths work as typed.
#
# Helm 4 discards a plugin's stderr, so unless a report was asked for
# (--report or POLYREPO_REPORT), each run writes its report (changes,
# warnings, the error, usage errors and this wrapper's own) to a file of its
# own under Helm's cache home, and copies it to latest.txt beside it.
dir=${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")" && pwd)}
cache=${HELM_CACHE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/helm}/polyrepo-render
report=
asked=${POLYREPO_REPORT:-}
for a in "$@"; do
  case $a in --report|--report=*) asked=1 ;; esac
done
if [ -z "$asked" ] && mkdir -p "$cache" 2>/dev/null; then
  report="$cache/report-$(date -u +%Y%m%dT%H%M%SZ)-$$.txt"
  POLYREPO_REPORT=$report
  export POLYREPO_REPORT
fi

# Keeps the newest 20 reports, and latest.txt (replaced in one rename, so
# concurrent runs never leave it half written).
finish() {
  [ -n "$report" ] && [ -f "$report" ] || return 0
  cp "$report" "$cache/.latest.$$" && mv -f "$cache/.latest.$$" "$cache/latest.txt"
  n=0
  for f in $(ls -1t "$cache" | grep '^report-'); do
    n=$((n + 1))
    [ "$n" -gt 20 ] && rm -f "$cache/$f"
  done
  return 0
}

if [ -x "$dir/bin/polyrepo-render" ]; then
  bin=$dir/bin/polyrepo-render
elif command -v polyrepo-render >/dev/null 2>&1; then
  bin=polyrepo-render
else
  msg="polyrepo-render: not found on PATH nor in $dir/bin; install it with 'cargo install --locked --path .'"
  echo "$msg" >&2
  [ -n "$report" ] && echo "error: $msg" > "$report"
  finish
  exit 2
fi
"$bin" "$@"
status=$?
finish
exit $status
