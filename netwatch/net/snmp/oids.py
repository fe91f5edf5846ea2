"""Numeric OIDs netwatch reads at run time (no MIB loading in the daemon)."""

from __future__ import annotations

Oid = tuple[int, ...]


def parse(text: str) -> Oid:
    """`"1.3.6.1"` or `".1.3.6.1"` -> `(1, 3, 6, 1)`; raises ValueError on anything else."""
    parts = text.strip().lstrip(".").split(".")
    arcs = tuple(int(p) for p in parts)
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or any(a < 0 or a >= 2**32 for a in arcs):
        raise ValueError(f"not a numeric OID: {text!r}")
    return arcs


def dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


# SNMPv2-MIB system group (scalars, instance .0)
SYS_DESCR: Oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)

# IF-MIB ifTable columns (1.3.6.1.2.1.2.2.1.N)
_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_DESCR: Oid = _IF + (2,)
IF_SPEED: Oid = _IF + (5,)
IF_ADMIN_STATUS: Oid = _IF + (7,)
IF_OPER_STATUS: Oid = _IF + (8,)
IF_IN_OCTETS: Oid = _IF + (10,)
IF_IN_DISCARDS: Oid = _IF + (13,)
IF_IN_ERRORS: Oid = _IF + (14,)
IF_OUT_OCTETS: Oid = _IF + (16,)
IF_OUT_DISCARDS: Oid = _IF + (19,)
IF_OUT_ERRORS: Oid = _IF + (20,)

# IF-MIB ifXTable columns (1.3.6.1.2.1.31.1.1.1.N)
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_NAME: Oid = _IFX + (1,)
IF_HC_IN_OCTETS: Oid = _IFX + (6,)
IF_HC_OUT_OCTETS: Oid = _IFX + (10,)
IF_HIGH_SPEED: Oid = _IFX + (15,)
IF_ALIAS: Oid = _IFX + (18,)

# HOST-RESOURCES-MIB
HR_PROCESSOR_LOAD: Oid = (1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2)
_HR_STORAGE = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)
HR_STORAGE_TYPE: Oid = _HR_STORAGE + (2,)
HR_STORAGE_DESCR: Oid = _HR_STORAGE + (3,)
HR_STORAGE_ALLOCATION_UNITS: Oid = _HR_STORAGE + (4,)
HR_STORAGE_SIZE: Oid = _HR_STORAGE + (5,)
HR_STORAGE_USED: Oid = _HR_STORAGE + (6,)
HR_STORAGE_RAM: Oid = (1, 3, 6, 1, 2, 1, 25, 2, 1, 2)

# SNMP-USER-BASED-SM-MIB usmStats (reports that explain a refused v3 request)
USM_STATS: Oid = (1, 3, 6, 1, 6, 3, 15, 1, 1)

# Notifications (SNMPv2-MIB snmpTrapOID.0 and the generic traps of RFC 3418 / IF-MIB)
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
_TRAPS = (1, 3, 6, 1, 6, 3, 1, 1, 5)
COLD_START: Oid = _TRAPS + (1,)
WARM_START: Oid = _TRAPS + (2,)
LINK_DOWN: Oid = _TRAPS + (3,)
LINK_UP: Oid = _TRAPS + (4,)
AUTHENTICATION_FAILURE: Oid = _TRAPS + (5,)
TRAP_NAMES: dict[Oid, str] = {
    COLD_START: "coldStart",
    WARM_START: "warmStart",
    LINK_DOWN: "linkDown",
    LINK_UP: "linkUp",
    AUTHENTICATION_FAILURE: "authenticationFailure",
}
IF_INDEX: Oid = _IF + (1,)
