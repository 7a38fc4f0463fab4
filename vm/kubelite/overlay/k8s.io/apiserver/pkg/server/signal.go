/*
Copyright 2017 The Kubernetes Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// kubelite overlay of k8s.io/apiserver/pkg/server/signal.go (same in v0.34.4
// and v0.35.4), swapped in with `go build -overlay`, never vendored.
//
// Why: upstream closes a channel on the first call so that a second call
// panics. kube-apiserver (NewAPIServerCommand), kube-scheduler (RunE) and the
// kubelet (RunE) each call it, and kubelite runs all three in one process.
//
// Change: the first call installs the SIGTERM/SIGINT handler exactly as
// upstream does; every later call returns that same context. So the kubelite
// main, which calls it first, and every component share ONE signal context:
// the first signal cancels it for all of them, a second signal exits with 1.
// SetupSignalHandler and RequestShutdown are unchanged.

package server

import (
	"context"
	"os"
	"os/signal"
	"sync"
)

// kubelite: a sync.Once and the shared context replace upstream's
// `onlyOneSignalHandler` channel.
var (
	signalSetupOnce sync.Once
	signalContext   context.Context
)

var shutdownHandler chan os.Signal

// SetupSignalHandler registered for SIGTERM and SIGINT. A stop channel is returned
// which is closed on one of these signals. If a second signal is caught, the program
// is terminated with exit code 1.
// kubelite: may be called any number of times; all calls share one handler.
func SetupSignalHandler() <-chan struct{} {
	return SetupSignalContext().Done()
}

// SetupSignalContext is same as SetupSignalHandler, but a context.Context is returned.
// kubelite: the first call installs the handler, later calls return the same context.
func SetupSignalContext() context.Context {
	signalSetupOnce.Do(func() {
		shutdownHandler = make(chan os.Signal, 2)

		ctx, cancel := context.WithCancel(context.Background())
		signal.Notify(shutdownHandler, shutdownSignals...)
		go func() {
			<-shutdownHandler
			cancel()
			<-shutdownHandler
			os.Exit(1) // second signal. Exit directly.
		}()
		signalContext = ctx
	})
	return signalContext
}

// RequestShutdown emulates a received event that is considered as shutdown signal (SIGTERM/SIGINT)
// This returns whether a handler was notified
func RequestShutdown() bool {
	if shutdownHandler != nil {
		select {
		case shutdownHandler <- shutdownSignals[0]:
			return true
		default:
		}
	}

	return false
}
