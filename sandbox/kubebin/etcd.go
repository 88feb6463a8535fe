package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

// runEtcd behaves like the upstream etcd binary (etcdmain.Main exits itself on
// errors and on --version/--help).
//
// Known difference when etcd shares the binary with the Kubernetes components:
// k8s.io/apiserver imports github.com/grpc-ecosystem/go-grpc-prometheus, whose
// init registers grpc_server_* collectors in the prometheus default registry.
// etcd's own grpc server metrics then fail to register (etcd logs the warning
// "etcdserver: failed to register grpc metrics" and carries on), so etcd's
// /metrics has no grpc_server_* series. All etcd_* metrics are unaffected.
func runEtcd() int {
	etcdmain.Main(os.Args)
	return 0
}
