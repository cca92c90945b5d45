"""SNMP: IF-MIB and BRIDGE-MIB reads from switches (recorded polls or a live agent)."""

from tools.snmp import oids
from tools.snmp.base import SnmpSource, Varbind, counter_delta

__all__ = ["SnmpSource", "Varbind", "counter_delta", "oids"]
