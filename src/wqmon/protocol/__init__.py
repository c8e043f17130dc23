"""Pure protocol code: HJ 212 and Modbus framing, parsing and building, the push body. No I/O."""
