// Command kubebin is a multi-call binary (in the spirit of the old hyperkube)
// bundling the Kubernetes v1.34 control-plane and node components plus etcd,
// built from their published Go modules. One binary means one link step and
// one file on disk instead of seven large ones.
//
// Dispatch: on the basename of argv[0] (install symlinks named after the
// components), or, when invoked under its own name, on the first argument:
//
//	kube-apiserver --help        (via symlink)
//	kubebin kube-apiserver --help
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// multiCallName is the name of the real binary; build.sh installs it under this name.
const multiCallName = "kubebin"

// commands maps a component name to its entry point. Each entry point reads
// its arguments from os.Args, where os.Args[0] is the component name.
var commands = map[string]func() int{
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kubelet":                 runKubelet,
	"kube-proxy":              runProxy,
	"kubectl":                 runKubectl,
	"etcd":                    runEtcd,
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := commands[name]; !ok {
		// Invoked as "kubebin <component> [args...]" (or under an unknown name).
		if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
			usage(name)
			if len(os.Args) >= 2 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
				os.Exit(0)
			}
			os.Exit(2)
		}
		name = os.Args[1]
		if _, ok := commands[name]; !ok {
			fmt.Fprintf(os.Stderr, "%s: unknown component %q\n\n", multiCallName, name)
			usage(multiCallName)
			os.Exit(2)
		}
		// Shift so that the component sees os.Args == [component, args...];
		// cobra and etcd both parse os.Args[1:].
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	os.Exit(commands[name]())
}

func usage(self string) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s <component> [flags...]\n   or: invoke through a symlink named after the component\ncomponents:\n", self)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %s\n", n)
	}
}
