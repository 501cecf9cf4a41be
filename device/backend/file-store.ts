// File-backed store: created if missing, reopened with its data. Sparse at
// the filesystem's discretion (the file is extended with ftruncate). Reads
// and writes use positioned synchronous I/O of at most one command's data
// (bounded by MDTS), which hits the page cache; flush is an async fdatasync
// so the event loop never waits for the disk.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, fdatasync, existsSync } from 'node:fs';
import type { BlockStore } from './store.ts';

const ZERO_CHUNK = new Uint8Array(1 << 20);

export class FileStore implements BlockStore {
  readonly kind = 'file' as const;
  private fd: number;
  private length: number;
  /** True when the file did not exist and was created by this open. */
  readonly created: boolean;

  constructor(readonly path: string, readonly size: number) {
    this.created = !existsSync(path);
    this.fd = openSync(path, this.created ? 'w+' : 'r+');
    this.length = fstatSync(this.fd).size;
    if (this.length < size) {
      ftruncateSync(this.fd, size);
      this.length = size;
    }
  }

  read(off: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const n = readSync(this.fd, dst, done, dst.length - done, off + done);
      if (n === 0) {
        dst.fill(0, done); // beyond EOF reads as zero
        return;
      }
      done += n;
    }
  }

  write(off: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) done += writeSync(this.fd, src, done, src.length - done, off + done);
    if (off + src.length > this.length) this.length = off + src.length;
  }

  deallocate(off: number, len: number): void {
    // Node has no hole punching: write zeroes over the range that exists in the file.
    const end = Math.min(off + len, this.length);
    for (let p = off; p < end; p += ZERO_CHUNK.length) {
      const n = Math.min(ZERO_CHUNK.length, end - p);
      this.write(p, ZERO_CHUNK.subarray(0, n));
    }
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      fdatasync(this.fd, (err) => (err ? reject(err) : resolve()));
    });
  }

  allocatedBytes(): number {
    return this.length;
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
