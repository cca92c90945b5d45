"""``strata lab``: a miniature homelab in network namespaces, for fault injection.

One Linux bridge with STP as the switch (snmpd reports its ports), three nodes (sshd,
node exporter, a small workload), a DNS server, and Prometheus, Alertmanager and the
blackbox exporter, all inside namespaces named ``stl-*`` on 10.200.0.0/24. Faults are
injected into that lab only; the host's interfaces and nftables ruleset are never touched.

Modules: :mod:`.plan` (names and addresses), :mod:`.state` (what exists, for ``down``),
:mod:`.netns` (namespaces, links, processes), :mod:`.services` (configs and daemons),
:mod:`.faults` (inject/restore), :mod:`.runner` (``lab run``), :mod:`.cli` (argparse).
"""
