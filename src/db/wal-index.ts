/**
 * The WAL-index header of a SQLite database in WAL mode: the first 48 bytes of its `-shm` file
 * (version, change counter, frame count, page size, salts, checksums). SQLite rewrites it at
 * every commit, whichever connection or process commits (https://www.sqlite.org/walformat.html,
 * "The WAL-Index Header"), so two reads that differ mean something was committed in between,
 * and two equal reads mean nothing was. One `pread` each, no lock taken.
 *
 * The file stays in place only while a connection to the database is open: the caller opens
 * it after its own connection has read the database once, and closes it before that connection.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';

/** The header is written in the host's byte order. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** Bytes of the header's first copy. */
export const WAL_INDEX_HEADER_BYTES = 48;

export class WalIndexHeader {
  private constructor(private readonly fd: number) {}

  /**
   * The header of `<file>-shm`, or undefined when it cannot be read (no such file: the database
   * is not in WAL mode; permissions) or is not an initialized WAL-index: callers fall back to
   * `PRAGMA data_version` then.
   */
  static open(file: string): WalIndexHeader | undefined {
    let fd: number;
    try {
      fd = openSync(`${file}-shm`, 'r');
    } catch {
      return undefined;
    }
    const header = new WalIndexHeader(fd);
    const probe = WalIndexHeader.buffer();
    // Byte 12 is isInit: 1 once a connection has built the index.
    if (header.read(probe) && probe.readUInt8(12) === 1) return header;
    header.close();
    return undefined;
  }

  /** A buffer the size of the header, for {@link read}. */
  static buffer(): Buffer {
    return Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  }

  /**
   * Commits between two reads of the header: its change counter (`iChange`, bytes 8–11 in the
   * host's byte order) goes up by one at every commit and at nothing else (a checkpoint that
   * restarts the WAL rewrites the header but not the counter).
   */
  static commitsBetween(before: Buffer, after: Buffer): number {
    const read = (b: Buffer) => (LITTLE_ENDIAN ? b.readUInt32LE(8) : b.readUInt32BE(8));
    return (read(after) - read(before)) >>> 0;
  }

  /** Read the header into `into`; false when it could not be read whole. */
  read(into: Buffer): boolean {
    try {
      return readSync(this.fd, into, 0, WAL_INDEX_HEADER_BYTES, 0) === WAL_INDEX_HEADER_BYTES;
    } catch {
      return false;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
