#!/bin/sh
# Rebuilds pkijs.bundle.js from npm (see README.md). Needs node and npm; run from this folder.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(pwd)
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund pkijs@4.0.0 asn1js@4.0.0 esbuild@0.28.2 >/dev/null
cat > entry.js <<'JS'
export { AttributeTypeAndValue, Attribute, AuthenticatedSafe, CertBag, Certificate, CertificationRequest, ContentInfo, Extension, Extensions, PFX, PKCS8ShroudedKeyBag, PrivateKeyInfo, SafeBag, SafeContents, SignedData, getCrypto } from "pkijs";
export * as asn1js from "asn1js";
JS
npx esbuild entry.js --bundle --format=esm --minify --legal-comments=inline --outfile="$here/pkijs.bundle.js"
for p in pkijs asn1js @peculiar/utils bytestreamjs @noble/hashes; do
  echo "===== $p $(node -p "require('./node_modules/$p/package.json').version") ====="
  cat "node_modules/$p/LICENSE"
  echo
done > "$here/LICENSES.txt"
