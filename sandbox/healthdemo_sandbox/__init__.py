"""A real, local Kubernetes for tests and the sandbox: the real binaries, no emulator.

`binaries` finds (or builds) them; `controlplane` runs etcd + kube-apiserver +
kube-controller-manager on loopback with generated certificates and identities.
"""
