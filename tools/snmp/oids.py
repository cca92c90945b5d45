"""Numeric OIDs Strata reads (no MIB files are shipped or needed)."""

from __future__ import annotations

# IF-MIB ifTable (Counter32 unless noted), column + "." + ifIndex
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"  # INTEGER up(1) down(2)
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
IF_IN_UCAST_PKTS = "1.3.6.1.2.1.2.2.1.11"
IF_IN_NUCAST_PKTS = "1.3.6.1.2.1.2.2.1.12"
IF_IN_DISCARDS = "1.3.6.1.2.1.2.2.1.13"
IF_IN_ERRORS = "1.3.6.1.2.1.2.2.1.14"
IF_OUT_DISCARDS = "1.3.6.1.2.1.2.2.1.19"
IF_OUT_ERRORS = "1.3.6.1.2.1.2.2.1.20"
# IF-MIB ifXTable
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_IN_BROADCAST_PKTS = "1.3.6.1.2.1.31.1.1.1.3"  # Counter32
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"  # Counter64
IF_HC_IN_UCAST_PKTS = "1.3.6.1.2.1.31.1.1.1.7"  # Counter64
IF_HC_IN_BROADCAST_PKTS = "1.3.6.1.2.1.31.1.1.1.9"  # Counter64
IF_COUNTER_DISCONTINUITY_TIME = "1.3.6.1.2.1.31.1.1.1.19"  # TimeStamp
# BRIDGE-MIB dot1dStp
STP_TIME_SINCE_TOP_CHANGE = "1.3.6.1.2.1.17.2.3.0"  # TimeTicks
STP_TOP_CHANGES = "1.3.6.1.2.1.17.2.4.0"  # Counter32
STP_DESIGNATED_ROOT = "1.3.6.1.2.1.17.2.5.0"
STP_PORT_STATE = "1.3.6.1.2.1.17.2.15.1.3"  # INTEGER forwarding(5) blocking(2)
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # TimeTicks

NAMES: dict[str, str] = {
    IF_DESCR: "ifDescr",
    IF_OPER_STATUS: "ifOperStatus",
    IF_IN_OCTETS: "ifInOctets",
    IF_IN_UCAST_PKTS: "ifInUcastPkts",
    IF_IN_NUCAST_PKTS: "ifInNUcastPkts",
    IF_IN_DISCARDS: "ifInDiscards",
    IF_IN_ERRORS: "ifInErrors",
    IF_OUT_DISCARDS: "ifOutDiscards",
    IF_OUT_ERRORS: "ifOutErrors",
    IF_NAME: "ifName",
    IF_IN_BROADCAST_PKTS: "ifInBroadcastPkts",
    IF_HC_IN_OCTETS: "ifHCInOctets",
    IF_HC_IN_UCAST_PKTS: "ifHCInUcastPkts",
    IF_HC_IN_BROADCAST_PKTS: "ifHCInBroadcastPkts",
    IF_COUNTER_DISCONTINUITY_TIME: "ifCounterDiscontinuityTime",
    STP_TIME_SINCE_TOP_CHANGE: "dot1dStpTimeSinceTopologyChange",
    STP_TOP_CHANGES: "dot1dStpTopChanges",
    STP_DESIGNATED_ROOT: "dot1dStpDesignatedRoot",
    STP_PORT_STATE: "dot1dStpPortState",
    SYS_UPTIME: "sysUpTime",
}


def name_of(oid: str) -> str:
    """``ifInErrors.3`` for ``1.3.6.1.2.1.2.2.1.14.3``; the OID itself when unknown."""
    if oid in NAMES:
        return NAMES[oid]
    base, _, index = oid.rpartition(".")
    while base:
        if base in NAMES:
            return f"{NAMES[base]}.{index}"
        base, _, more = base.rpartition(".")
        index = f"{more}.{index}"
    return oid
