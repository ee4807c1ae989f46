#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kube-scheduler (v1.20.2) from
# Debian bookworm's "kubernetes" source package, the only registry-hosted
# Kubernetes source that carries its Go dependencies. The binaries are cached in
# $SINFONIA_K8S_BIN (default /opt/sinfonia/k8s/bin); a second run is a no-op.
set -euo pipefail

bin_dir=${SINFONIA_K8S_BIN:-/opt/sinfonia/k8s/bin}
work_dir=${SINFONIA_K8S_WORK:-/opt/sinfonia/k8s/build}
components=${SINFONIA_K8S_COMPONENTS:-kube-apiserver kube-controller-manager kube-scheduler}
version=v1.20.2

missing=()
for component in $components; do
  [ -x "$bin_dir/$component" ] || missing+=("$component")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "kubernetes binaries present in $bin_dir"
  exit 0
fi

mkdir -p "$bin_dir" "$work_dir"
export DEBIAN_FRONTEND=noninteractive

# Source entries mirroring the binary entries, for `apt-get source`.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > /etc/apt/sources.list.d/sinfonia-debian-src.sources
  apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends golang-go dpkg-dev >/dev/null

cd "$work_dir"
if ! ls -d kubernetes-1.20*/ >/dev/null 2>&1; then
  apt-get source -qq kubernetes >/dev/null
fi
src_dir=$(ls -d "$work_dir"/kubernetes-1.20*/ | head -n 1)

export GOPATH="$work_dir/gopath" GOCACHE="$work_dir/gocache"
export CGO_ENABLED=0 GO111MODULE=off GOPROXY=off GOFLAGS=
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$src_dir" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# The tarball lacks pkg/generated/openapi/zz_generated.openapi.go; generate it
# the way Makefile.generated_files does, with the vendored openapi-gen.
generated=pkg/generated/openapi/zz_generated.openapi.go
if [ ! -f "$generated" ]; then
  go build -o "$work_dir/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  find -H . \( -not \( \( -path ./_\* -o -path ./.\* -o -path ./vendor \) -prune \) \) -type f -name '*.go' \
    | sed 's|^./staging/src|vendor|; s|/[^/]*$||; s|^./||' | LC_ALL=C sort -u > "$work_dir/go_dirs"
  # shellcheck disable=SC2046
  find $(cat "$work_dir/go_dirs") -maxdepth 1 -type f -name '*.go' \
    | xargs grep -l '^// *+k8s:' \
    | grep -vE '^vendor/k8s.io/(code-generator|sample-apiserver)/' \
    | xargs grep -l '+k8s:openapi-gen=' \
    | xargs -n1 dirname | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' \
    | paste -sd, - > "$work_dir/openapi_packages"
  "$work_dir/openapi-gen" --logtostderr=false -i "$(cat "$work_dir/openapi_packages")" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h hack/boilerplate/boilerplate.generatego.txt -r "$work_dir/openapi_violations.report"
fi

ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=20 -X $pkg.gitTreeState=clean"
done
for component in "${missing[@]}"; do
  echo "building $component $version"
  go build -o "$bin_dir/$component.tmp" -ldflags "$ldflags" "./cmd/$component"
  mv "$bin_dir/$component.tmp" "$bin_dir/$component"
done
# The Go build cache is large (~1.4 GB) and not needed once the binaries exist.
rm -rf "$GOCACHE"
ls -l "$bin_dir"
