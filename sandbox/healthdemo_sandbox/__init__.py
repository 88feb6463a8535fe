"""A real, local Kubernetes for tests and the sandbox: the real binaries, no emulator.

`bringup` is the one recipe (binaries, images, control plane, node, install, operator) that
`make sandbox` (`cluster.Sandbox`), the tests and the benchmarks compose; `binaries` finds or
builds the binaries; `controlplane` and `node` hold one module per component; `paths`, `ports`,
`waiting`, `tls`, `probes`, `timings` and `lifecycle` are the basics they share.
"""
