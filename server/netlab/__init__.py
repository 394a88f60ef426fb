"""Emulated village links for tests and `tongbu bench village` (needs root).

A `School` is a classroom network namespace behind a router namespace that
masquerades (NAT) onto a veth link to the host, where the server runs. The
link between classroom and router is a pair of TUN devices joined by a small
userspace forwarder (`server.netlab.forwarder`) that adds seeded delay, jitter
and loss and can cut the link; rate is a `tbf` qdisc on both TUN devices;
unseeded random loss and UDP blocking are nftables rules on the router.

The kernel here has no netem and no tc actions, hence the forwarder (see
docs/village-links.md).
"""

from server.netlab.lab import LinkSpec, NetlabUnavailable, School, netlab_available

__all__ = ["LinkSpec", "NetlabUnavailable", "School", "netlab_available"]
