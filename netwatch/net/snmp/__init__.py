"""SNMP: the BER codec, the v1/v2c client, v3 USM and the trap receiver."""
