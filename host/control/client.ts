// A control-channel client (QMP framing) for the CLI and tests: connect with a
// token, negotiate capabilities, `execute` commands answered in order, listen
// to events.
import { WebSocket } from 'ws';

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
}

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(readonly errorClass: string, desc: string) {
    super(desc);
  }
}

export interface ControlClient {
  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  onEvent(fn: (e: QmpEvent) => void): () => void;
  /** Resolves when the connection closes (for any reason). */
  readonly closed: Promise<void>;
  close(): void;
}

/** Connect to ws://HOST:PORT/control. Rejects with a one-line reason (401, refused, …). */
export function connectControl(url: string, token: string, timeoutMs = 10_000): Promise<ControlClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
    const listeners = new Set<(e: QmpEvent) => void>();
    let nextId = 1;
    let greeted = false;
    let closedResolve: () => void = () => undefined;
    const closed = new Promise<void>((r) => { closedResolve = r; });
    const failAll = (why: string): void => {
      for (const p of pending.values()) p.rej(new ControlError('Disconnected', why));
      pending.clear();
    };
    const client: ControlClient = {
      execute: (cmd, args) => new Promise((res, rej) => {
        if (ws.readyState !== WebSocket.OPEN) {
          rej(new ControlError('Disconnected', 'control connection is closed'));
          return;
        }
        const id = nextId++;
        pending.set(id, { res, rej });
        ws.send(JSON.stringify(args === undefined ? { execute: cmd, id } : { execute: cmd, arguments: args, id }));
      }),
      onEvent: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      closed,
      close: () => ws.close(1000),
    };
    ws.on('unexpected-response', (_req, res) => {
      reject(new Error(res.statusCode === 401 ? `${url}: wrong or missing token (HTTP 401)` : `${url}: HTTP ${res.statusCode ?? '?'}`));
      ws.terminate();
    });
    ws.on('error', (e) => {
      if (!greeted) reject(new Error(`${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    ws.on('close', () => {
      failAll('control connection closed');
      closedResolve();
      if (!greeted) reject(new Error(`${url}: connection closed before the greeting`));
    });
    ws.on('message', (raw) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(String(raw)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!greeted) {
        if (typeof m.QMP !== 'object') return;
        greeted = true;
        const id = nextId++;
        pending.set(id, { res: () => resolve(client), rej: reject });
        ws.send(JSON.stringify({ execute: 'qmp_capabilities', id }));
        return;
      }
      if (typeof m.event === 'string') {
        const ev: QmpEvent = { event: m.event, data: (m.data ?? {}) as Record<string, unknown> };
        for (const l of listeners) l(ev);
        return;
      }
      const id = typeof m.id === 'number' ? m.id : -1;
      const p = pending.get(id);
      if (p === undefined) return;
      pending.delete(id);
      if ('error' in m) {
        const e = (m.error ?? {}) as { class?: string; desc?: string };
        p.rej(new ControlError(e.class ?? 'GenericError', e.desc ?? 'error'));
      } else p.res(m.return);
    });
  });
}
