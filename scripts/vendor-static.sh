#!/usr/bin/env bash
# Re-vendor the front-end libraries from the npm registry into static/vendor/ (pinned versions).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent htmx.org@2.0.8 bootstrap@5.3.8 bootstrap-icons@1.13.1 axe-core@4.14.1 >/dev/null
for f in *.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
v="$here/static/vendor"
mkdir -p "$v/htmx" "$v/bootstrap" "$v/bootstrap-icons/fonts"
cp htmx.org-2.0.8/package/dist/htmx.min.js htmx.org-2.0.8/package/LICENSE "$v/htmx/"
cp bootstrap-5.3.8/package/dist/css/bootstrap.min.css bootstrap-5.3.8/package/dist/js/bootstrap.bundle.min.js \
   bootstrap-5.3.8/package/LICENSE "$v/bootstrap/"
cp bootstrap-icons-1.13.1/package/font/bootstrap-icons.min.css bootstrap-icons-1.13.1/package/LICENSE "$v/bootstrap-icons/"
cp bootstrap-icons-1.13.1/package/font/fonts/bootstrap-icons.woff2 \
   bootstrap-icons-1.13.1/package/font/fonts/bootstrap-icons.woff "$v/bootstrap-icons/fonts/"
# The source maps are not shipped; a dangling sourceMappingURL breaks the manifest static storage.
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##; s#//\# sourceMappingURL=.*$##' \
    "$v/bootstrap/bootstrap.min.css" "$v/bootstrap/bootstrap.bundle.min.js"
# axe-core is for the accessibility browser tests only: it lives with them, never in static/.
t="$here/tests/browser/vendor"
mkdir -p "$t"
cp axe-core-4.14.1/package/axe.min.js axe-core-4.14.1/package/LICENSE axe-core-4.14.1/package/LICENSE-3RD-PARTY.txt "$t/"
echo "vendored into $v and $t"
