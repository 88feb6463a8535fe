// kubebin builds one Kubernetes release at a time from its own pinned build list,
// releases/<version>.mod (+ .sum), with `go build -modfile=...` (build.sh). This file only marks
// the module's root, which the go command needs; it is never read for a build.
module healthdemo.local/kubebin

go 1.26.0
