#!/usr/bin/env bash
# Vendors plotly.js for the web page (gateway/web/static/plotly-figure.js draws plotly figures
# with it): the npm registry's plotly.js-dist-min at a pinned version, checked against the
# registry's sha512 integrity, its plotly.min.js put in gateway/web/static/vendor/ (not in git,
# see .gitignore; the gateway image copies it with the rest of static/). Does nothing when that
# file is already there with the expected hash. Run by deploy/images.sh before the gateway image
# is built and by `make deps` for tests that run the gateway from source.
#
# The version is the one the sandbox's plotly (Python, deploy/requirements-sandbox.lock.txt) was
# built against, so figures it makes are read by the plotly.js it expects. To move it: take the
# version from `npm view plotly.js-dist-min versions`, its `npm view plotly.js-dist-min@V
# dist.integrity`, and the new plotly.min.js's sha256 (the script prints it on a mismatch); then
# check MAPLIBRE_STYLE_ID in plotly-figure.js (tests/e2e/test_chart_drawing.py fails if stale).
#
# Usage: deploy/plotly-js.sh
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PLOTLY_VERSION=4.1.1
PLOTLY_INTEGRITY=sha512-4Jg6n9FKcn5WBuqHESZmueEBYOLjGlsz8ivzMCl03WCX+GAAOgIALvdONwIi54JDMq0tkxbu+vs5Yj7QSPQtgg==
# plotly.min.js from that tarball: lets a rerun check the vendored file without the tarball.
PLOTLY_JS_SHA256=3b6e15d45dbb7fca5bd2094291e961ddc5472cd887009e6009a56dab668d721f
VENDOR_DIR=$REPO_ROOT/gateway/web/static/vendor
TARGET=$VENDOR_DIR/plotly.min.js

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$TARGET" ] && [ "$(sha256_of "$TARGET")" = "$PLOTLY_JS_SHA256" ]; then
    exit 0
fi

if ! command -v npm >/dev/null; then
    is_root_on_debian || die "npm is missing: install Node.js and npm (apt-get install npm)"
    apt_install npm
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "fetching plotly.js-dist-min@$PLOTLY_VERSION from the npm registry"
(cd "$work" && npm pack --silent "plotly.js-dist-min@$PLOTLY_VERSION" >/dev/null)
tarball=$work/plotly.js-dist-min-$PLOTLY_VERSION.tgz
[ -f "$tarball" ] || die "npm pack left no $tarball"

integrity=$("$PYTHON" -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
[ "$integrity" = "$PLOTLY_INTEGRITY" ] || die "plotly.js-dist-min@$PLOTLY_VERSION: integrity $integrity, expected $PLOTLY_INTEGRITY"

# The package holds the bundle at its top (package/plotly.min.js), not under dist/.
tar -xzf "$tarball" -C "$work" package/plotly.min.js package/LICENSE
actual=$(sha256_of "$work/package/plotly.min.js")
[ "$actual" = "$PLOTLY_JS_SHA256" ] || die "plotly.min.js has sha256 $actual; set PLOTLY_JS_SHA256 to it if the version moved"

mkdir -p "$VENDOR_DIR"
install -m 644 "$work/package/LICENSE" "$VENDOR_DIR/plotly.LICENSE"
# Renamed into place, so a gateway serving the folder never sees half a file.
install -m 644 "$work/package/plotly.min.js" "$TARGET.tmp"
mv -f "$TARGET.tmp" "$TARGET"
log "plotly.js $PLOTLY_VERSION is in ${TARGET#"$REPO_ROOT"/}"
