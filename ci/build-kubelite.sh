#!/usr/bin/env bash
# Build kubelite (vm/kubelite: kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy and the kubelet in one process, as microk8s's
# kubelite) from the upstream k8s.io/kubernetes Go module.
#
#   ci/build-kubelite.sh VERSION [OUT]      e.g. ci/build-kubelite.sh 1.34.4 ./kubelite
#
# - go.mod: k8s.io/kubernetes requires its ~30 staging modules (k8s.io/api,
#   k8s.io/client-go, ...) at v0.0.0 behind local `=> ./staging/...` replaces,
#   which a dependent module does not inherit. vm/kubelite/versions/VERSION/go.mod
#   is generated from k8s.io/kubernetes@vVERSION's own go.mod: each such replace
#   becomes `k8s.io/X => k8s.io/X v0.MINOR.PATCH` (the tag Kubernetes publishes
#   staging modules at), then `go mod tidy` fills in requirements and go.sum.
#   It is committed; on a cache miss it is regenerated and must match
#   (KUBELITE_REGEN=1 rewrites it).
# - overlay: vm/kubelite/overlay/<import path>/<file> replaces that upstream
#   file through `go build -overlay` (no vendoring). Go refuses overlays of
#   files under GOMODCACHE, so each module holding an overlaid file is first
#   copied, unchanged, to $CACHE/kubelite/modsrc/<module>@<version>, and a
#   build-time copy of the go.mod replaces the module with that directory. The
#   upstream file must have the sha256 listed in overlay/upstream.sha256.
# - version: -X ldflags on k8s.io/component-base/version and
#   k8s.io/client-go/pkg/version, as upstream's hack/lib/version.sh. buildDate
#   is the module's release time from the proxy (reproducible); gitCommit is
#   unknown for a module download and left empty unless KUBE_GIT_COMMIT is set.
# - cache: $KUBESTALL_CACHE (default /var/cache/kubestall):
#   kubelite/VERSION-HASH/kubelite, HASH over the kubelite sources, this script,
#   the Go version and KUBE_GIT_COMMIT; GOMODCACHE=go/mod, GOCACHE=go/build.
#   A hit prints the path at once.
# Progress goes to stderr; the binary's path is the only line on stdout.
set -euo pipefail

log() { printf '[build-kubelite %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() {
	echo "usage: $0 VERSION [OUT]   (VERSION like 1.34.4; OUT: also copy the binary there)" >&2
	exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
VERSION=${1#v}
OUT=${2:-}
[[ $VERSION =~ ^1\.([0-9]+)\.([0-9]+)$ ]] || die "VERSION must be a Kubernetes release like 1.34.4, got '$1'"
MINOR=${BASH_REMATCH[1]}
STAGING_VERSION=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT=$ROOT/ci/build-kubelite.sh
SRC=$ROOT/vm/kubelite
VDIR=$SRC/versions/$VERSION
[[ -f $SRC/main.go ]] || die "no kubelite sources at $SRC"

CACHE=${KUBESTALL_CACHE:-/var/cache/kubestall}
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build
# Same result whatever the caller's Go settings: no workspace, no GOFLAGS,
# no toolchain switch, static binary.
export GOFLAGS= GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || die "go not found (set GO=/path/to/go)"
GOVERSION=$("$GO" env GOVERSION)
mkdir -p "$GOMODCACHE" "$GOCACHE" "$CACHE/kubelite" || die "cannot create the cache under $CACHE (set KUBESTALL_CACHE)"

# One build per version at a time.
if command -v flock >/dev/null; then
	exec 9>"$CACHE/kubelite/.lock-$VERSION"
	flock 9
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# generate_modfile DIR: write DIR/go.mod and DIR/go.sum for VERSION.
generate_modfile() {
	local dir=$1 upstream flags
	log "reading k8s.io/kubernetes@v$VERSION's go.mod from the module proxy"
	upstream=$("$GO" mod download -json "k8s.io/kubernetes@v$VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') ||
		die "go mod download k8s.io/kubernetes@v$VERSION failed (is v$VERSION a release? is GOPROXY reachable?)"
	[[ -f $upstream ]] || die "no go.mod for k8s.io/kubernetes@v$VERSION"
	# `go mod edit -print` gives the canonical form: one replace per line,
	# `OLD [V] => NEW [V]`, inside `replace (...)` or after `replace `.
	flags=$("$GO" mod edit -print "$upstream" | awk -v sv="$STAGING_VERSION" '
		/^go /                      { print "-go=" $2 }
		/^godebug [^(]/             { print "-godebug=" $2 }
		/^godebug \(/               { ingd = 1; next }
		ingd && /^\)/               { ingd = 0 }
		ingd                        { print "-godebug=" $1 }
		/=>/ {
			sub(/^replace /, ""); sub(/^[ \t]+/, "")
			n = split($0, w, /[ \t]+/)
			for (i = 1; i <= n && w[i] != "=>"; i++) {}
			old = w[1]; oldv = (i == 3) ? "@" w[2] : ""
			new = w[i + 1]; newv = (i + 2 <= n) ? "@" w[i + 2] : ""
			if (new ~ /^\.\.?\//) {
				if (new != "./staging/src/" old) { print "ERROR local replace " old " => " new; exit }
				print "-replace=" old "=" old "@" sv
			} else {
				print "-replace=" old oldv "=" new newv
			}
		}')
	if grep -q '^ERROR' <<<"$flags"; then
		die "k8s.io/kubernetes@v$VERSION: $(grep '^ERROR' <<<"$flags" | head -1) is not a staging module"
	fi
	grep -q -- '-replace=k8s.io/api=' <<<"$flags" || die "no staging replaces found in $upstream"
	printf 'module kubestall.dev/kubelite\n' >"$dir/go.mod"
	# shellcheck disable=SC2046 # one flag per line, no blanks in them
	"$GO" mod edit $(tr '\n' ' ' <<<"$flags") "-require=k8s.io/kubernetes@v$VERSION" "$dir/go.mod"
	log "generated $(grep -c -- '-replace=' <<<"$flags") replaces; go mod tidy (downloads modules on first use)"
	(cd "$SRC" && "$GO" mod tidy -modfile="$dir/go.mod") || die "go mod tidy failed for $VERSION"
	{
		printf '// Generated by ci/build-kubelite.sh %s from k8s.io/kubernetes@v%s'"'"'s go.mod. Do not edit:\n' "$VERSION" "$VERSION"
		printf '// rerun with KUBELITE_REGEN=1. Build with -modfile=versions/%s/go.mod.\n' "$VERSION"
		cat "$dir/go.mod"
	} >"$dir/go.mod.new" && mv "$dir/go.mod.new" "$dir/go.mod"
}

if [[ ! -f $VDIR/go.mod || ${KUBELITE_REGEN:-} == 1 ]]; then
	mkdir -p "$TMP/gen" "$VDIR"
	generate_modfile "$TMP/gen"
	cp "$TMP/gen/go.mod" "$TMP/gen/go.sum" "$VDIR/"
	log "wrote ${VDIR#"$ROOT"/}/go.mod and go.sum: commit them"
	REGENERATED=1
fi

# The cache key: everything that goes into the binary.
hash_inputs() {
	cd "$SRC"
	{
		find . -path ./versions -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -path './overlay/*' \) \
			! -name '*_test.go' -print
		echo "./versions/$VERSION/go.mod"
		echo "./versions/$VERSION/go.sum"
	} | LC_ALL=C sort | xargs sha256sum
	sha256sum "$SCRIPT" | cut -d' ' -f1
	echo "$GOVERSION ${KUBE_GIT_COMMIT:-}"
}
HASH=$(hash_inputs | sha256sum | cut -c1-16)
BDIR=$CACHE/kubelite/$VERSION-$HASH
BIN=$BDIR/kubelite

deliver() {
	if [[ -n $OUT ]]; then
		mkdir -p "$(dirname "$OUT")"
		cp -f "$BIN" "$OUT.tmp.$$" && chmod 0755 "$OUT.tmp.$$" && mv -f "$OUT.tmp.$$" "$OUT"
		log "copied to $OUT"
	fi
	echo "$BIN"
}

if [[ -x $BIN ]]; then
	log "cache hit: $BIN"
	deliver
	exit 0
fi
log "cache miss: building kubelite $VERSION into $BDIR"
START=$SECONDS

# The committed go.mod must still be what generation gives.
if [[ -z ${REGENERATED:-} ]]; then
	mkdir -p "$TMP/gen"
	generate_modfile "$TMP/gen"
	for f in go.mod go.sum; do
		cmp -s "$TMP/gen/$f" "$VDIR/$f" ||
			die "${VDIR#"$ROOT"/}/$f differs from what k8s.io/kubernetes@v$VERSION's go.mod gives now (diff: diff $TMP/gen/$f $VDIR/$f); rerun with KUBELITE_REGEN=1 and commit it"
	done
fi

mkdir -p "$BDIR"
# The build-time go.mod: the committed one, plus the replaces to module copies.
MODFILE=$BDIR/go.mod
cp -f "$VDIR/go.mod" "$MODFILE"
cp -f "$VDIR/go.sum" "$BDIR/go.sum"

# overlay.json: each overlay/<import path>/<file> replaces <that package's dir
# in the module copy>/<file>.
log "checking overlay files against upstream"
MODSRC=$CACHE/kubelite/modsrc
entries=()
while IFS= read -r ofile; do
	rel=${ofile#"$SRC/overlay/"}
	pkg=$(dirname "$rel")
	# Where the package is in the module cache (the committed go.mod's view).
	read -r pkgdir moddir modpath modver < <(cd "$SRC" && "$GO" list -modfile="$VDIR/go.mod" -f \
		'{{.Dir}} {{with .Module}}{{if .Replace}}{{.Replace.Dir}} {{.Replace.Path}} {{.Replace.Version}}{{else}}{{.Dir}} {{.Path}} {{.Version}}{{end}}{{end}}' "$pkg") ||
		die "overlay $rel: package $pkg is not in the build of $VERSION"
	[[ -n $modver ]] || die "overlay $rel: $modpath is not a versioned module"
	inmod=${pkgdir#"$moddir"/}/$(basename "$rel")
	key=$modpath@$modver/$inmod
	want=$(awk -v k="$key" '$2 == k { print $1 }' "$SRC/overlay/upstream.sha256")
	[[ -f $moddir/$inmod ]] || die "overlay $rel: upstream has no $key"
	got=$(sha256sum "$moddir/$inmod" | cut -d' ' -f1)
	[[ -n $want ]] || die "overlay $rel: no sha256 for $key in overlay/upstream.sha256; review $moddir/$inmod against the overlay, then add: $got  $key"
	[[ $want == "$got" ]] || die "overlay $rel: upstream $key changed (sha256 $got, overlay written for $want): review it"
	copy=$MODSRC/$modpath@$modver
	if [[ ! -f $copy/go.mod ]]; then
		log "copying $modpath@$modver out of GOMODCACHE to $copy (unchanged; the overlay applies on top)"
		rm -rf "$copy.tmp" && mkdir -p "$(dirname "$copy")"
		cp -r "$moddir" "$copy.tmp" && chmod -R u+w "$copy.tmp" && rm -rf "$copy" && mv "$copy.tmp" "$copy"
	fi
	[[ $(sha256sum "$copy/$inmod" | cut -d' ' -f1) == "$want" ]] || die "$copy/$inmod is not the upstream file: rm -rf $copy and rerun"
	"$GO" mod edit "-replace=$modpath=$copy" "$MODFILE"
	entries+=("$(printf '"%s": "%s"' "$copy/$inmod" "$ofile")")
	log "overlay: $key <- ${ofile#"$ROOT"/}"
done < <(find "$SRC/overlay" -type f -name '*.go' | LC_ALL=C sort)
[[ ${#entries[@]} -gt 0 ]] || die "no overlay files under $SRC/overlay"
{
	printf '{"Replace": {\n'
	for i in "${!entries[@]}"; do
		printf '  %s%s\n' "${entries[$i]}" "$([[ $i -lt $((${#entries[@]} - 1)) ]] && echo ,)"
	done
	printf '}}\n'
} >"$BDIR/overlay.json"

# Version stamping, as hack/lib/version.sh.
INFO=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/v$VERSION.info
BUILD_DATE=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$INFO")
[[ $BUILD_DATE =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || die "cannot read the release time from $INFO"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=v$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
	ldflags+=" -X $pkg.gitCommit=${KUBE_GIT_COMMIT:-} -X $pkg.buildDate=$BUILD_DATE"
	[[ -n ${KUBE_GIT_COMMIT:-} ]] && ldflags+=" -X $pkg.gitTreeState=clean"
done

log "go build ($GOVERSION, $(nproc) cores; a cold build takes 10-20 min; log: $BDIR/build.log)"
set +e
(cd "$SRC" && nice -n 10 "$GO" build -v -trimpath -modfile="$MODFILE" -overlay="$BDIR/overlay.json" \
	-ldflags="$ldflags" -o "$BIN.tmp" .) 2>&1 | tee "$BDIR/build.log" |
	awk -v start="$START" '{ n++ } n % 200 == 0 { printf "[build-kubelite] %d packages compiled\n", n > "/dev/stderr"; fflush("/dev/stderr") }'
rc=${PIPESTATUS[0]}
set -e
if [[ $rc -ne 0 ]]; then
	log "go build failed (exit $rc); last lines of $BDIR/build.log:"
	grep -v '^[a-zA-Z0-9._~/-]*$' "$BDIR/build.log" | tail -40 >&2 || true
	exit 1
fi

got=$("$BIN.tmp" --version) || die "the built binary does not run: $BIN.tmp --version"
[[ $got == "Kubernetes v$VERSION" ]] || die "the built binary reports '$got', want 'Kubernetes v$VERSION' (ldflags not applied?)"
mv -f "$BIN.tmp" "$BIN"
log "built $BIN ($(du -h "$BIN" | cut -f1), $got) in $((SECONDS - START)) s"
deliver
