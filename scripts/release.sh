#!/usr/bin/env bash
# Release binaries and the container image.
#
#   scripts/release.sh            # dist/threatgate-VERSION-TARGET.tar.gz and its .sha256
#   scripts/release.sh --image    # also the image threatgate:VERSION from Containerfile
#
# Builds the release binary with the locked dependencies, checks that it runs (`--version`
# must name the crate's version), packs it with the licence and the README, and, with
# --image, builds the image with docker or podman and runs `--version` inside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
image=false
[ "${1:-}" = "--image" ] && image=true
cargo build --release --locked -p threatgate --bin threatgate
version=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "threatgate"))')
target=$(rustc -vV | sed -n 's/^host: //p')
said=$(target/release/threatgate --version)
[ "$said" = "threatgate $version" ] || { echo "the binary says '$said', not 'threatgate $version'" >&2; exit 1; }
echo "built: $said ($target)"
mkdir -p dist
cp target/release/threatgate dist/threatgate
name="threatgate-$version-$target"
tar -czf "dist/$name.tar.gz" -C dist threatgate -C "$root" LICENSE README.md
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "dist/$name.tar.gz"
if $image; then
  engine=$(command -v docker || command -v podman || true)
  [ -n "$engine" ] || { echo "--image needs docker or podman" >&2; exit 1; }
  "$engine" build -f Containerfile -t "threatgate:$version" .
  inside=$("$engine" run --rm "threatgate:$version" --version)
  [ "$inside" = "threatgate $version" ] || { echo "the image's binary says '$inside'" >&2; exit 1; }
  echo "image threatgate:$version: $inside"
fi
