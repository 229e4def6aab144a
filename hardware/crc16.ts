// The reflected CRC-16 with polynomial 0xA001 that serial meter protocols use; they differ only
// in the starting value: 0x0000 for DSMR P1 telegrams (CRC-16/ARC), 0xFFFF for Modbus RTU
// frames (CRC-16/MODBUS).

function reflectedCrc16(bytes: Uint8Array, initial: number): number {
  let crc = initial;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** CRC-16/ARC, as DSMR P1 telegrams carry it (over `/` … `!` inclusive). */
export function crc16Arc(bytes: Uint8Array): number {
  return reflectedCrc16(bytes, 0x0000);
}

/** CRC-16/MODBUS, as Modbus RTU frames carry it (low byte first on the wire). */
export function crc16Modbus(bytes: Uint8Array): number {
  return reflectedCrc16(bytes, 0xffff);
}
