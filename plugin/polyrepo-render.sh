#!/bin/sh
# Runs $HELM_PLUGIN_DIR/bin/polyrepo-render when it is there, else
# polyrepo-render from PATH. Arguments (--post-renderer-args) pass through;
# the working directory is the user's, so relative paths work as typed.
dir=${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")" && pwd)}
if [ -x "$dir/bin/polyrepo-render" ]; then
  exec "$dir/bin/polyrepo-render" "$@"
fi
if command -v polyrepo-render >/dev/null 2>&1; then
  exec polyrepo-render "$@"
fi
echo "polyrepo-render: not found on PATH nor in $dir/bin; install it with 'cargo install --path .'" >&2
exit 2
