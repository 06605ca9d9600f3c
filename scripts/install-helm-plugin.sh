#!/bin/sh
# Installs the Helm 4 post-renderer plugin (plugin/) in a plugins folder of
# its own, where Helm 3 never looks, and prints on stdout the one line to add
# to your shell profile so that Helm 4 (and only Helm 4) finds it.
#
# Why: Helm 3 parses every plugin.yaml of its plugins folder strictly and
# aborts on the first Helm 4 one ("unknown field apiVersion"), so the Helm 4
# plugin must not sit in the folder both versions share. Helm 4's
# HELM_PLUGINS takes a list of folders, so the line puts the Helm 4 folder
# first and keeps the shared one after it.
#
# Usage: scripts/install-helm-plugin.sh [--helm CMD] [--dir DIR] [--binary FILE]
#   --helm CMD     the Helm 4 command (default: helm4 if on PATH, else helm);
#                  refused unless `CMD version` says v4
#   --dir DIR      the Helm 4 plugins folder
#                  (default: $HELM_DATA_HOME/plugins-v4, i.e.
#                  ~/.local/share/helm/plugins-v4)
#   --binary FILE  also copy this polyrepo-render binary into the plugin's
#                  bin/ (otherwise the plugin runs polyrepo-render from PATH)
# Messages go to stderr; the line alone goes to stdout, so
#   scripts/install-helm-plugin.sh >> ~/.bashrc   (or ~/.zshrc)
# works as well as copying it by hand. It belongs in the file your
# interactive shell reads (a function in ~/.profile is not seen by
# non-login bash or by zsh).
set -eu

die() {
  echo "install-helm-plugin: $*" >&2
  exit 2
}

# Single-quotes a value for sh ('it'"'"'s' style).
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\"'\"'/g")"
}

helm=
dir=
binary=
while [ $# -gt 0 ]; do
  case $1 in
    --helm) [ $# -ge 2 ] || die "--helm needs a command"; helm=$2; shift 2 ;;
    --helm=*) helm=${1#--helm=}; shift ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a folder"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

src=$(cd "$(dirname "$0")/.." && pwd)/plugin
[ -f "$src/plugin.yaml" ] && [ -f "$src/polyrepo-render.sh" ] \
  || die "plugin files not found in $src"

if [ -z "$helm" ]; then
  if command -v helm4 >/dev/null 2>&1; then helm=helm4; else helm=helm; fi
fi
command -v "$helm" >/dev/null 2>&1 || die "'$helm' not found; name your Helm 4 with --helm"
version=$("$helm" version --template '{{.Version}}' 2>/dev/null) \
  || die "'$helm version' failed"
case $version in
  v4.*) ;;
  *) die "'$helm' is Helm $version, not Helm 4: Helm 3 runs polyrepo-render directly (--post-renderer polyrepo-render) and needs no plugin; name your Helm 4 with --helm" ;;
esac

# The plugins folders Helm reads today, as Helm itself reports them (this
# honours HELM_PLUGINS, HELM_DATA_HOME, XDG_DATA_HOME and the macOS
# default): Helm 3 reads the same list, so the new folder must be none of
# them. The data home is the default folder's parent.
shared=$("$helm" env HELM_PLUGINS) || die "'$helm env HELM_PLUGINS' failed"
[ -n "$shared" ] || die "'$helm env HELM_PLUGINS' printed nothing"
data=$("$helm" env HELM_DATA_HOME) || die "'$helm env HELM_DATA_HOME' failed"
[ -n "$dir" ] || dir=$data/plugins-v4
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
case $dir in
  *:*|*\\*) die "the plugins folder '$dir' holds ':' or '\\', which a HELM_PLUGINS list cannot carry; choose another with --dir" ;;
esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
old_ifs=$IFS
IFS=:
for p in $shared; do
  IFS=$old_ifs
  [ -d "$p" ] || continue
  [ "$(cd "$p" && pwd -P)" != "$dir" ] \
    || die "--dir $dir is a folder Helm 3 reads too ($p, from HELM_PLUGINS); choose another"
done
IFS=$old_ifs

# Checked before anything is written.
if [ -n "$binary" ]; then
  [ -f "$binary" ] && [ -x "$binary" ] || die "--binary $binary is not an executable file"
fi
target=$dir/polyrepo-render
if [ -e "$target" ] && ! grep -qs '^name: *polyrepo-render *$' "$target/plugin.yaml"; then
  die "$target exists and is not this plugin; remove it or choose another --dir"
fi

staging=$target.new.$$
trap 'rm -rf "$staging"' EXIT
mkdir "$staging"
cp "$src/plugin.yaml" "$src/polyrepo-render.sh" "$staging/"
chmod 755 "$staging/polyrepo-render.sh"
if [ -n "$binary" ]; then
  mkdir "$staging/bin"
  cp "$binary" "$staging/bin/polyrepo-render"
  chmod 755 "$staging/bin/polyrepo-render"
elif ! command -v polyrepo-render >/dev/null 2>&1; then
  echo "install-helm-plugin: note: polyrepo-render is not on PATH; install it (cargo install --locked --path .) or rerun with --binary FILE" >&2
fi
rm -rf "$target"
mv "$staging" "$target"

# An earlier install into a folder Helm 3 reads still breaks Helm 3: say so.
IFS=:
for p in $shared; do
  IFS=$old_ifs
  for f in "$p"/*/plugin.yaml; do
    [ -f "$f" ] || continue
    if grep -q '^name: *polyrepo-render *$' "$f" && grep -q '^apiVersion:' "$f"; then
      echo "install-helm-plugin: warning: $(dirname "$f") holds the Helm 4 plugin in a folder Helm 3 reads too; remove it: rm -rf $(quote "$(dirname "$f")")" >&2
    fi
  done
done
IFS=$old_ifs

# The line: a shell function named like the Helm 4 command, so that only
# Helm 4 sees the extra folder (HELM_PLUGINS exported for every command would
# reach Helm 3 too, which reads the same list).
name=$(basename "$helm")
case $name in
  [A-Za-z_]*) ;;
  *) die "cannot name a shell function '$name'; pass --helm with a plain command name" ;;
esac
case $name in
  *[!A-Za-z0-9_]*) die "cannot name a shell function '$name'; pass --helm with a plain command name" ;;
esac
case $helm in
  */*)
    abs=$(cd "$(dirname "$helm")" && pwd)/$name
    # A function named like another command on PATH would hide it (a
    # Helm 4 unpacked as `helm` would take over Helm 3's name).
    if other=$(command -v "$name" 2>/dev/null) && [ "$other" != "$abs" ] \
      && ! [ "$other" -ef "$abs" ]; then
      die "a shell function '$name' would hide $other; link Helm 4 as 'helm4' (ln -s $(quote "$abs") ~/.local/bin/helm4) and pass --helm helm4"
    fi
    run=$(quote "$abs")
    ;;
  *) run="command $name" ;;
esac
echo "install-helm-plugin: installed in $target" >&2
echo "install-helm-plugin: add this line to the file your interactive shell reads (~/.bashrc or ~/.zshrc), then open a new shell:" >&2
printf '%s() { HELM_PLUGINS=%s:"${HELM_PLUGINS:-"%s"}" %s "$@"; }\n' \
  "$name" "$(quote "$dir")" "$(printf '%s' "$shared" | sed 's/[\\$`"]/\\&/g')" "$run"
