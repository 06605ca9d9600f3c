#!/bin/sh
# Runs $HELM_PLUGIN_DIR/bin/polyrepo-render when it is there, else
# polyrepo-render from PATH. Arguments (--post-renderer-args) pass through;
# the working directory is the user's, so relative paths work as typed.
#
# Helm 4 discards a plugin's stderr, so unless a report was asked for
# (--report or POLYREPO_REPORT), each run writes its report (changes,
# warnings, the error, usage errors and this wrapper's own) to a file of its
# own under Helm's cache home, and copies it to latest.txt beside it.
#
# That folder may sit where others can write (CI runners often put
# HELM_CACHE_HOME under /tmp): it is used only when it is the user's own
# (not a symlink, owned by the user, made mode 0700, in a folder owned by
# the user or root that others cannot write unless it is sticky), every file is created
# new under an unguessable name (mktemp: O_EXCL), and latest.txt is
# replaced by a rename, which never follows a link. When the folder cannot
# be used, or a report cannot be written there, the render goes on without
# one: a report nobody asked for never fails a render.
dir=${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")" && pwd)}
# Helm's cache home: what Helm passes (HELM_CACHE_HOME), else what it says
# (`helm env`), else its default: ~/Library/Caches/helm on macOS,
# $XDG_CACHE_HOME/helm (~/.cache/helm) elsewhere.
cache_home=${HELM_CACHE_HOME:-}
if [ -z "$cache_home" ] && [ -n "${HELM_BIN:-}" ]; then
  cache_home=$("$HELM_BIN" env HELM_CACHE_HOME 2>/dev/null) || cache_home=
fi
if [ -z "$cache_home" ]; then
  case $(uname -s 2>/dev/null) in
    Darwin) cache_home=$HOME/Library/Caches/helm ;;
    *) cache_home=${XDG_CACHE_HOME:-$HOME/.cache}/helm ;;
  esac
fi
cache=$cache_home/polyrepo-render
report=
asked=${POLYREPO_REPORT:-}
for a in "$@"; do
  case $a in --report|--report=*) asked=1 ;; esac
done

# The report folder, when it is the user's own and private, in a folder
# nobody else can rename it out of: owned by the user or root, and not
# writable by others unless sticky (as /tmp is).
own_folder() {
  parent=$(dirname "$cache")
  mkdir -p "$cache" 2>/dev/null &&
    [ -d "$cache" ] && [ ! -L "$cache" ] && [ -O "$cache" ] && [ ! -L "$parent" ] &&
    [ -n "$(find "$parent" -maxdepth 0 \( -user "$(id -u)" -o -user 0 \) -print 2>/dev/null)" ] &&
    [ -z "$(find "$parent" -maxdepth 0 \( -perm -0002 -o -perm -0020 \) ! -perm -1000 -print 2>/dev/null)" ] &&
    chmod 700 "$cache" 2>/dev/null
}
if [ -z "$asked" ] && own_folder; then
  report=$(mktemp "$cache/report-$(date -u +%Y%m%dT%H%M%SZ)-$$-XXXXXXXX" 2>/dev/null) || report=
  if [ -n "$report" ]; then
    POLYREPO_FALLBACK_REPORT=$report
    export POLYREPO_FALLBACK_REPORT
  fi
fi

# Keeps the newest 20 reports, and latest.txt (replaced in one rename, so
# concurrent runs never leave it half written).
finish() {
  [ -n "$report" ] && [ -f "$report" ] && [ ! -L "$report" ] || return 0
  if tmp=$(mktemp "$cache/.latest.XXXXXXXX" 2>/dev/null); then
    if cat "$report" >"$tmp"; then
      mv -f "$tmp" "$cache/latest.txt" || rm -f "$tmp"
    else
      rm -f "$tmp"
    fi
  fi
  ls -1t "$cache" | grep '^report-' | tail -n +21 | while IFS= read -r f; do
    rm -f "$cache/$f"
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
  [ -n "$report" ] && echo "polyrepo-render: error: $msg" >"$report"
  finish
  exit 2
fi
"$bin" "$@"
status=$?
finish
exit $status
