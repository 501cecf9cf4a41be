// A field in a byte structure: offset and size in bytes (little-endian).
export interface ByteField {
  readonly off: number;
  readonly size: number;
}
export const bf = (off: number, size: number): ByteField => ({ off, size });
