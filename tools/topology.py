"""Topology hints an operator configures once per site (switch ports, services, pods)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Hint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class NodeHint(_Hint):
    """A machine and where it is plugged in."""

    name: str = Field(description="Node name as in Kubernetes / node exporter's instance label.")
    address: str | None = Field(default=None, description="Management address.")
    switch: str | None = Field(default=None, description="Switch this node hangs off.")
    port: int | None = Field(default=None, description="ifIndex of the switch port.")


class SwitchHint(_Hint):
    """A managed switch that Strata can read over SNMP."""

    name: str = Field(description="Device name as used in SNMP records and configs.")
    address: str | None = Field(default=None, description="SNMP address.")


class ServiceHint(_Hint):
    """A service whose role matters to reconciliation (e.g. the cluster DNS)."""

    name: str = Field(description="Service or app name.")
    namespace: str | None = Field(default=None, description="Kubernetes namespace.")
    kind: str | None = Field(default=None, description="Role: dns, ingress, apiserver, etcd, ...")


class PodHint(_Hint):
    """A pod with its IP, so that client addresses in logs can be named."""

    name: str = Field(description="Pod name.")
    namespace: str | None = Field(default=None, description="Kubernetes namespace.")
    ip: str | None = Field(default=None, description="Pod IP.")
    node: str | None = Field(default=None, description="Node the pod runs on.")


class Topology(_Hint):
    """Everything the site told Strata about its shape. All parts optional."""

    nodes: tuple[NodeHint, ...] = Field(default=(), description="Machines.")
    switches: tuple[SwitchHint, ...] = Field(default=(), description="Managed switches.")
    services: tuple[ServiceHint, ...] = Field(default=(), description="Services with roles.")
    pods: tuple[PodHint, ...] = Field(default=(), description="Pods with IPs.")

    def services_of_kind(self, kind: str) -> list[ServiceHint]:
        """The services whose role is ``kind`` (e.g. ``"dns"``)."""
        return [s for s in self.services if s.kind == kind]

    def pod_by_ip(self, ip: str) -> PodHint | None:
        """The pod holding ``ip``, if the topology names one."""
        return next((p for p in self.pods if p.ip == ip), None)
