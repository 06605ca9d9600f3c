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
# Messages go to stderr; the profile line alone goes to stdout, so
#   scripts/install-helm-plugin.sh >> ~/.profile
# works as well as copying it by hand.
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
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
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

# The folder Helm 3 and Helm 4 share by default (what `helm env` calls
# HELM_PLUGINS when the variable is unset).
data=${HELM_DATA_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/helm}
shared=$data/plugins
[ -n "$dir" ] || dir=$data/plugins-v4
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
[ "$dir" != "$shared" ] || die "--dir must not be the shared plugins folder $shared"

target=$dir/polyrepo-render
mkdir -p "$dir"
rm -rf "$target.new"
mkdir "$target.new"
cp "$src/plugin.yaml" "$src/polyrepo-render.sh" "$target.new/"
chmod 755 "$target.new/polyrepo-render.sh"
if [ -n "$binary" ]; then
  [ -x "$binary" ] || die "--binary $binary is not an executable file"
  mkdir "$target.new/bin"
  cp "$binary" "$target.new/bin/polyrepo-render"
  chmod 755 "$target.new/bin/polyrepo-render"
elif ! command -v polyrepo-render >/dev/null 2>&1; then
  echo "install-helm-plugin: note: polyrepo-render is not on PATH; install it (cargo install --locked --path .) or rerun with --binary FILE" >&2
fi
rm -rf "$target"
mv "$target.new" "$target"

# An earlier install into the shared folder still breaks Helm 3: say so.
for f in "$shared"/*/plugin.yaml; do
  [ -f "$f" ] || continue
  if grep -q '^name: *polyrepo-render *$' "$f" && grep -q '^apiVersion:' "$f"; then
    echo "install-helm-plugin: warning: $(dirname "$f") holds the Helm 4 plugin in the folder Helm 3 reads too; remove it: rm -rf $(quote "$(dirname "$f")")" >&2
  fi
done

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
  */*) run=$(quote "$(cd "$(dirname "$helm")" && pwd)/$name") ;;
  *) run="command $name" ;;
esac
echo "install-helm-plugin: installed in $target" >&2
echo "install-helm-plugin: add this line to your shell profile (~/.profile, ~/.bashrc or ~/.zshrc), then open a new shell:" >&2
printf '%s() { HELM_PLUGINS=%s:"${HELM_PLUGINS:-"%s"}" %s "$@"; }\n' \
  "$name" "$(quote "$dir")" "$(printf '%s' "$shared" | sed 's/[\\$`"]/\\&/g')" "$run"
