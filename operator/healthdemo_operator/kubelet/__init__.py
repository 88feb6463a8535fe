"""The kubelet's probe counters: parsing its `/metrics/probes` (`probe_counters`) and reading it
node by node (`reader`)."""
