"""SNMP v1/v2c/v3 client, codec and trap receiver used by the snmp probe."""
