// Shared set-up for the NBD unit tests: an NBD server on an ephemeral
// loopback port over an in-memory disk, and a seeded PRNG.
import { startNbdServer, type NbdServer, type NbdServerOptions } from '../../host/nbd/index.ts';
import { MemoryBackend, type MemoryBackendOptions } from '../../host/nbd/memory-backend.ts';
import { NbdClient, connectNbd } from '../../host/nbd/client.ts';
import { mulberry32 } from '../../src/util/prng.ts';

export interface Rig {
  server: NbdServer;
  disk: MemoryBackend;
  port: number;
  /** Connect + structured replies (unless false) + GO. */
  open(opts?: { exportName?: string; structured?: boolean }): Promise<NbdClient>;
  /** Connect and read the greeting only. */
  raw(): Promise<NbdClient>;
  close(): Promise<void>;
}

export async function rig(disk: Partial<MemoryBackendOptions> = {}, server: Partial<NbdServerOptions> = {}, exportOpts: { readOnly?: boolean; description?: string } = {}): Promise<Rig> {
  const mem = new MemoryBackend({ sizeBytes: 4 * 1024 * 1024, ...disk });
  const srv = await startNbdServer({
    listen: '127.0.0.1:0',
    exports: [{ name: 'disk0', backend: mem, description: exportOpts.description ?? 'test disk', readOnly: exportOpts.readOnly ?? false }],
    ...server,
  });
  const a = srv.addresses[0];
  const port = a !== undefined && a.kind === 'tcp' ? a.port : 0;
  const clients: NbdClient[] = [];
  return {
    server: srv,
    disk: mem,
    port,
    async open(o = {}) {
      const c = await connectNbd({ host: '127.0.0.1', port, exportName: o.exportName ?? 'disk0', structured: o.structured ?? true });
      clients.push(c);
      return c;
    },
    async raw() {
      const c = await NbdClient.connect({ host: '127.0.0.1', port });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await srv.close();
    },
  };
}

/** Deterministic PRNG (mulberry32, the project's one in src/util/prng.ts). */
export const prng = mulberry32;

export function pattern(len: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (r() * 256) | 0;
  return b;
}
