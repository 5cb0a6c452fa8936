/**
 * SQLite's WAL file layout (sqlite.org/fileformat.html, "The WAL File Format"): a 32-byte header, then frames of a
 * 24-byte header and one page. For tests and bench tools that read a WAL file back.
 */
export const walHeaderBytes = 32;
export const frameHeaderBytes = 24;

/** The database page size, as the WAL header records it (big-endian at offset 8). */
export function walPageBytes(wal: Buffer): number {
  return wal.readUInt32BE(8);
}
