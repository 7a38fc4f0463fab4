// kubestall.dev/kubelite: one process running kube-apiserver, kube-controller-manager,
// kube-scheduler, kube-proxy and the kubelet (microk8s's "kubelite").
//
// This go.mod is deliberately empty of requirements: the Kubernetes version is
// chosen at build time. ci/build-kubelite.sh builds with
//   go build -modfile=versions/<VERSION>/go.mod
// whose replace block is generated from k8s.io/kubernetes's own go.mod.
// The argsfile package has no dependencies, so `go test ./argsfile` works here.
module kubestall.dev/kubelite

go 1.25.0
