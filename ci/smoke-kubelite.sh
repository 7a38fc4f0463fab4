#!/usr/bin/env bash
# Smoke check of a kubelite binary, without containers or root changes:
#
#   ci/smoke-kubelite.sh KUBELITE VERSION [KINE]
#
# 1. `kubelite --version` says "Kubernetes vVERSION" (the ldflags took);
# 2. a broken args file (unset ${VAR}) stops kubelite before anything starts,
#    with the file and line in the message;
# 3. with KINE (a github.com/k3s-io/kine binary): kine on a unix socket in a
#    temp dir, then kubelite with args files in a temp SNAP_DATA running the
#    API server (127.0.0.1, a free port), the controller manager and the
#    scheduler in one process; /version must report vVERSION, then SIGTERM
#    must stop kubelite with exit 0.
# Only the PIDs this script starts are signalled.
set -euo pipefail

log() { printf '[smoke-kubelite %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
[[ $# -ge 2 && $# -le 3 ]] || { echo "usage: $0 KUBELITE VERSION [KINE]" >&2; exit 2; }
KUBELITE=$(realpath "$1")
VERSION=${2#v}
KINE=${3:+$(realpath "$3")}
[[ -x $KUBELITE ]] || die "$KUBELITE is not executable"

T=$(mktemp -d /tmp/kubelite-smoke.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n ${KEEP:-} ]]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# 1. version
got=$("$KUBELITE" --version)
[[ $got == "Kubernetes v$VERSION" ]] || die "--version printed '$got', want 'Kubernetes v$VERSION'"
log "ok: --version: $got"
"$KUBELITE" --version=raw >&2

# 2. args file errors are reported before anything starts
export SNAP_DATA=$T/snap SNAP_COMMON=$T/common
mkdir -p "$SNAP_DATA/args" "$SNAP_COMMON"
printf -- '# broken\n--cert-dir=${NOT_SET_ANYWHERE}/certs\n' >"$SNAP_DATA/args/kube-apiserver"
for c in kube-controller-manager kube-scheduler kube-proxy kubelet; do : >"$SNAP_DATA/args/$c"; done
set +e
out=$(timeout 20 "$KUBELITE" 2>&1)
rc=$?
set -e
[[ $rc -eq 1 && $out == *"args/kube-apiserver:2: variable NOT_SET_ANYWHERE is not set"* ]] ||
	die "broken args file: exit $rc, output: $out"
log "ok: broken args file refused: $out"

[[ -n $KINE ]] || { log "no KINE given: skipping the API server run"; exit 0; }

# 3. API server + controller manager + scheduler on kine
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	die "no free port"
}
APORT=$(free_port) CMPORT=$(free_port) SPORT=$(free_port) KPORT=$(free_port)

mkdir -p "$SNAP_DATA/certs" "$SNAP_DATA/credentials" "$SNAP_DATA/kine"
openssl genrsa -out "$SNAP_DATA/certs/serviceaccount.key" 2048 2>/dev/null
cat >"$SNAP_DATA/credentials/client.config" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster:
    server: https://127.0.0.1:$APORT
    insecure-skip-tls-verify: true
contexts:
- name: smoke
  context: {cluster: smoke, user: admin}
users:
- name: admin
  user: {token: smoke-admin-token}
current-context: smoke
EOF
# A static token in group system:masters (microk8s once used known_tokens.csv
# too). Anonymous requests will not do: the API server turns anonymous auth
# off under AlwaysAllow, and the controller manager needs real rights.
echo 'smoke-admin-token,admin,admin,system:masters' >"$SNAP_DATA/credentials/known_tokens.csv"

# kine: sqlite (pure Go without cgo) in the temp dir, gRPC on a unix socket,
# its metrics on a loopback port.
(cd "$SNAP_DATA/kine" && exec "$KINE" --endpoint "sqlite://$SNAP_DATA/kine/state.db" \
	--listen-address "unix://$SNAP_DATA/kine/kine.sock" --metrics-bind-address "127.0.0.1:$KPORT") \
	>"$T/kine.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [[ -S $SNAP_DATA/kine/kine.sock ]] && break; sleep 0.2; done
[[ -S $SNAP_DATA/kine/kine.sock ]] || { cat "$T/kine.log" >&2; die "kine did not create its socket"; }
log "kine pid ${PIDS[0]} on unix://$SNAP_DATA/kine/kine.sock"

# Args files as microk8s writes them: comments, quotes, ${SNAP_DATA}.
cat >"$SNAP_DATA/args/kube-apiserver" <<'EOF'
# kube-apiserver for the smoke check
--etcd-servers='unix://${SNAP_DATA}/kine/kine.sock'
--storage-backend=etcd3
--bind-address=127.0.0.1
--advertise-address=127.0.0.1
--cert-dir=${SNAP_DATA}/certs
--service-cluster-ip-range=10.152.183.0/24
--service-account-issuer=https://kubernetes.default.svc
--service-account-key-file=${SNAP_DATA}/certs/serviceaccount.key
--service-account-signing-key-file=${SNAP_DATA}/certs/serviceaccount.key
--authorization-mode=RBAC   # system:masters may do anything
--token-auth-file=${SNAP_DATA}/credentials/known_tokens.csv
EOF
echo "--secure-port=$APORT" >>"$SNAP_DATA/args/kube-apiserver"
cat >"$SNAP_DATA/args/kube-controller-manager" <<EOF
--kubeconfig=\${SNAP_DATA}/credentials/client.config
--service-account-private-key-file=\${SNAP_DATA}/certs/serviceaccount.key
--bind-address=127.0.0.1
--secure-port=$CMPORT
--leader-elect=false
EOF
cat >"$SNAP_DATA/args/kube-scheduler" <<EOF
--kubeconfig=\${SNAP_DATA}/credentials/client.config
--bind-address=127.0.0.1
--secure-port=$SPORT
--leader-elect=false
EOF

"$KUBELITE" --start-proxy=false --start-kubelet=false --apiserver-ready-timeout=180s \
	--kubeconfig-file="$SNAP_DATA/credentials/client.config" >"$T/kubelite.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
log "kubelite pid $KPID (API server on 127.0.0.1:$APORT, controller manager :$CMPORT, scheduler :$SPORT)"
started=$SECONDS
for _ in $(seq 1 180); do
	grep -q '"Starting component" component="kube-scheduler"' "$T/kubelite.log" && break
	kill -0 "$KPID" 2>/dev/null || { tail -40 "$T/kubelite.log" >&2; die "kubelite exited early"; }
	sleep 1
done
grep -q '"API server is ready"' "$T/kubelite.log" || { tail -40 "$T/kubelite.log" >&2; die "API server not ready"; }
log "ok: API server ready, controller manager and scheduler started after $((SECONDS - started)) s"
ver=$(curl -sk --max-time 5 -H "Authorization: Bearer smoke-admin-token" "https://127.0.0.1:$APORT/version")
grep -q "\"gitVersion\": \"v$VERSION\"" <<<"$ver" || die "/version: $ver"
log "ok: /version: $(tr -d '\n ' <<<"$ver")"
sleep 10 # let the controller manager and scheduler run a little
kill -0 "$KPID" 2>/dev/null || { tail -40 "$T/kubelite.log" >&2; die "kubelite died after start"; }
for p in $CMPORT $SPORT; do
	code=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$p/healthz")
	log "healthz on :$p -> $code"
	[[ $code == 200 ]] || { tail -40 "$T/kubelite.log" >&2; die "healthz on :$p answered $code"; }
done
rss=$(awk '/VmHWM/ { print int($2 / 1024) " MiB" }' "/proc/$KPID/status")
log "kubelite peak RSS so far (VmHWM): $rss"

kill -TERM "$KPID"
stopping=$SECONDS
set +e
wait "$KPID"
rc=$?
set -e
PIDS=("${PIDS[0]}")
[[ $rc -eq 0 ]] || { tail -40 "$T/kubelite.log" >&2; die "after SIGTERM kubelite exited $rc"; }
grep -q '"kubelite stopped"' "$T/kubelite.log" || die "no clean-stop line in the log"
log "ok: SIGTERM -> exit 0 after $((SECONDS - stopping)) s"
log "all checks passed"
