// kubelite runs kube-apiserver, kube-controller-manager, kube-scheduler,
// kube-proxy and the kubelet in one process, the way microk8s's kubelite does:
//
//  1. the API server, then wait until its /readyz answers "ok";
//  2. the controller manager and the scheduler;
//  3. kube-proxy;
//  4. the kubelet.
//
// Each component gets its flags from a microk8s args file (default
// ${SNAP_DATA}/args/<component>, see package argsfile) and is the upstream
// cobra command from k8s.io/kubernetes/cmd/<component>/app, unchanged. The
// only patched upstream file is k8s.io/apiserver/pkg/server/signal.go (see
// overlay/), so that every component that asks for a signal context gets the
// one this main set up: the first SIGTERM/SIGINT stops them all, a second one
// exits at once.
//
// kube-controller-manager and kube-proxy run on context.Background() upstream
// and do not watch the signal context: they end when the process exits, after
// the API server, scheduler and kubelet have shut down (or --shutdown-timeout).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // for time zone support in CronJob, as the upstream binaries

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as the upstream binaries
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as the upstream binaries
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as the upstream binaries
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"kubestall.dev/kubelite/argsfile"
)

// component is one upstream command run inside kubelite.
type component struct {
	name     string // also the args file's name under ${SNAP_DATA}/args
	argsFile string
	start    bool
	args     []string
	newCmd   func(ctx context.Context) *cobra.Command
	cmd      *cobra.Command
}

// versionFlag accepts --version (prints "Kubernetes vX.Y.Z" like the upstream
// binaries) and --version=raw (the whole version.Info).
type versionFlag string

func (v *versionFlag) String() string   { return string(*v) }
func (v *versionFlag) IsBoolFlag() bool { return true }
func (v *versionFlag) Set(s string) error {
	switch s {
	case "true", "raw", "false":
		*v = versionFlag(s)
		return nil
	}
	return fmt.Errorf("want --version or --version=raw, got %q", s)
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	env := argsfile.SnapEnv(os.LookupEnv)
	snapData, _ := env("SNAP_DATA")

	apiserverC := &component{name: "kube-apiserver", newCmd: func(context.Context) *cobra.Command { return apiserver.NewAPIServerCommand() }}
	cmC := &component{name: "kube-controller-manager", newCmd: func(context.Context) *cobra.Command { return controllermanager.NewControllerManagerCommand() }}
	schedC := &component{name: "kube-scheduler", newCmd: func(context.Context) *cobra.Command { return scheduler.NewSchedulerCommand() }}
	proxyC := &component{name: "kube-proxy", newCmd: func(context.Context) *cobra.Command { return proxy.NewProxyCommand() }}
	kubeletC := &component{name: "kubelet", newCmd: kubelet.NewKubeletCommand}

	// Flag names as microk8s's kubelite; --start-proxy, --start-kubelet,
	// --apiserver-ready-timeout and --shutdown-timeout are kubelite's own.
	fs := flag.NewFlagSet("kubelite", flag.ContinueOnError)
	for _, c := range []struct {
		comp *component
		flag string
	}{{apiserverC, "apiserver"}, {cmC, "controller-manager"}, {schedC, "scheduler"}, {proxyC, "proxy"}, {kubeletC, "kubelet"}} {
		fs.StringVar(&c.comp.argsFile, c.flag+"-args-file", snapData+"/args/"+c.comp.name, "file with the arguments for "+c.comp.name)
	}
	var ver versionFlag
	fs.Var(&ver, "version", "print the Kubernetes version and exit (--version=raw: all version fields)")
	kubeconfig := fs.String("kubeconfig-file", snapData+"/credentials/client.config",
		"kubeconfig used to wait for the API server's /readyz; if the file does not exist, kubelite asks https://<bind-address>:<secure-port>/readyz anonymously")
	startControlPlane := fs.Bool("start-control-plane", true, "start the control plane (API server, controller manager, scheduler)")
	fs.BoolVar(&cmC.start, "start-controller-manager", true, "start the controller manager (with the control plane)")
	fs.BoolVar(&schedC.start, "start-scheduler", true, "start the scheduler (with the control plane)")
	fs.BoolVar(&proxyC.start, "start-proxy", true, "start kube-proxy")
	fs.BoolVar(&kubeletC.start, "start-kubelet", true, "start the kubelet")
	readyTimeout := fs.Duration("apiserver-ready-timeout", 360*time.Second, "how long to wait for the API server's /readyz")
	shutdownTimeout := fs.Duration("shutdown-timeout", 90*time.Second, "after a signal, how long to wait for the components to stop before exiting")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kubelite: unexpected arguments %q\n", fs.Args())
		return 2
	}
	switch ver {
	case "true":
		fmt.Printf("Kubernetes %s\n", version.Get())
		return 0
	case "raw":
		fmt.Printf("%#v\n", version.Get())
		return 0
	}

	apiserverC.start = *startControlPlane
	cmC.start = cmC.start && *startControlPlane
	schedC.start = schedC.start && *startControlPlane
	order := []*component{apiserverC, cmC, schedC, proxyC, kubeletC}

	// Read every args file before starting anything, so that a bad file
	// does not leave a half-started node behind.
	for _, c := range order {
		if !c.start {
			continue
		}
		args, err := argsfile.ReadFile(c.argsFile, env)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubelite: %s: %v\n", c.name, err)
			return 1
		}
		c.args = args
	}

	// Logging is process-wide: every component applies its logging flags,
	// which upstream allows only once. As upstream's own test servers do,
	// accept later calls as long as they ask for the same configuration.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged

	// The one signal context (the overlay makes later calls return it).
	ctx := genericapiserver.SetupSignalContext()
	klog.InfoS("Starting kubelite", "version", version.Get().GitVersion)

	// Build every command before any runs. Order matters: the controller
	// manager's constructor overrides the default of the WatchListClient
	// feature gate (on in 1.34+), which panics once another command has
	// added the process-wide feature gates to its flag set, as
	// NewAPIServerCommand does. So the controller manager comes first; the
	// override then applies to the whole process, as the gate is global.
	for _, c := range []*component{cmC, apiserverC, schedC, proxyC, kubeletC} {
		if c.start {
			c.cmd = c.newCmd(ctx)
		}
	}

	exited := make(chan exit, len(order))
	var running sync.WaitGroup
	startOne := func(c *component) {
		running.Add(1)
		startComponent(ctx, c, exited, &running)
	}

	if apiserverC.start {
		startOne(apiserverC)
		if err := waitForAPIServer(ctx, *kubeconfig, apiserverC.args, *readyTimeout, exited); err != nil {
			klog.ErrorS(err, "API server did not become ready")
			klog.Flush()
			return 1
		}
	}
	for _, c := range order[1:] {
		if c.start {
			startOne(c)
		}
	}

	select {
	case e := <-exited:
		// A component stopped on its own: the node is broken, so exit and let
		// the service manager restart kubelite, as microk8s's kubelite does.
		if ctx.Err() == nil {
			klog.ErrorS(e.err, "Component exited, stopping kubelite", "component", e.name)
			klog.Flush()
			return 1
		}
	case <-ctx.Done():
	}

	klog.InfoS("Signal received, waiting for the components to stop", "timeout", *shutdownTimeout)
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(*shutdownTimeout):
		klog.InfoS("Shutdown timeout reached, exiting")
	}
	klog.InfoS("kubelite stopped")
	klog.Flush()
	return 0
}

type exit struct {
	name string
	err  error
}

// startMu serialises the components' flag parsing and option setup: they
// share process-global state (feature gates, the component globals registry,
// klog flags). It is held from just before a command starts until its RunE
// begins, i.e. until the component runs.
var startMu sync.Mutex

// startComponent runs c's upstream command in a goroutine and returns once
// the command has parsed its flags and entered its RunE (or failed before).
// It reports on exited when the command returns.
func startComponent(ctx context.Context, c *component, exited chan<- exit, running *sync.WaitGroup) {
	startMu.Lock()
	var unlock sync.Once
	release := func() { unlock.Do(startMu.Unlock) }

	cmd := c.cmd
	cmd.SetArgs(c.args)
	cmd.SetContext(ctx)
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			release()
			return runE(cmd, args)
		}
	} else {
		release() // no RunE to hook: do not serialise this one
	}
	klog.InfoS("Starting component", "component", c.name, "argsFile", c.argsFile)
	go func() {
		defer running.Done()
		// As the upstream main()s: cli.Run sets the flag normalisation,
		// initialises and flushes the logs; this variant returns the error.
		err := cli.RunNoErrOutput(cmd)
		release()
		if err == nil && ctx.Err() == nil {
			err = errors.New("exited without error before shutdown")
		}
		if ctx.Err() != nil {
			klog.InfoS("Component stopped", "component", c.name, "err", err)
		}
		exited <- exit{c.name, err}
	}()
	// Wait for the goroutine to release the lock: the next component then
	// starts parsing only after this one is running.
	startMu.Lock()
	startMu.Unlock() //nolint:staticcheck // used as a barrier
}

// waitForAPIServer polls /readyz until it says ok, like microk8s's kubelite.
// With an existing kubeconfig it uses its server and credentials; otherwise
// it asks https://<bind-address or 127.0.0.1>:<secure-port>/readyz
// anonymously, ports and address taken from the API server's own args.
func waitForAPIServer(ctx context.Context, kubeconfig string, apiserverArgs []string, timeout time.Duration, exited <-chan exit) error {
	var cfg *rest.Config
	if _, err := os.Stat(kubeconfig); err == nil {
		if cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	} else {
		host, port := apiserverAddress(apiserverArgs)
		cfg = &rest.Config{
			Host:            "https://" + net.JoinHostPort(host, strconv.Itoa(port)),
			TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		}
	}
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	klog.InfoS("Waiting for the API server", "url", cfg.Host+"/readyz", "timeout", timeout)

	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last error
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			klog.InfoS("API server is ready")
			return nil
		}
		last = err
		select {
		case e := <-exited:
			return fmt.Errorf("%s exited: %v", e.name, e.err)
		case <-ctx.Done():
			return errors.New("signal received while waiting")
		case <-deadline:
			return fmt.Errorf("no ok from %s/readyz within %s, last error: %v", cfg.Host, timeout, last)
		case <-tick.C:
		}
	}
}

// apiserverAddress returns where the API server listens, from its args:
// --bind-address (when a specific address) and --secure-port (upstream
// default 6443; microk8s sets 16443).
func apiserverAddress(args []string) (host string, port int) {
	host, port = "127.0.0.1", 6443
	if v, ok := argsfile.FlagValue(args, "secure-port"); ok {
		if p, err := strconv.Atoi(v); err == nil && p > 0 {
			port = p
		}
	}
	if v, ok := argsfile.FlagValue(args, "bind-address"); ok {
		if ip := net.ParseIP(v); ip != nil && !ip.IsUnspecified() {
			host = ip.String()
		}
	}
	return host, port
}
