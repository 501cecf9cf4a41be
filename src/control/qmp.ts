// One control-channel session, QMP-style (PROTOCOL.md "Control channel"):
// greeting → qmp_capabilities → {"execute", "arguments"?, "id"?} answered in
// order with {"return", "id"} or {"error": {"class", "desc"}, "id"}; events
// {"event", "data", "timestamp": {"seconds", "microseconds"}} once negotiated.
// Malformed input gets an error answer, never a crash or a dropped session.
import { WebSocket } from 'ws';
import type { Logger } from '../util/log.ts';
import { QmpError, type ControlRegistry, type QmpValue } from './commands.ts';

export const QMP_VERSION = { qemu: { major: 0, minor: 1, micro: 0 }, package: 'nvmelab' };

const MAX_QUEUED = 64;

export function qmpTimestamp(now = Date.now()): { seconds: number; microseconds: number } {
  return { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 };
}

export class QmpSession {
  private negotiated = false;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly ws: WebSocket,
    private readonly registry: ControlRegistry,
    private readonly log: Logger,
  ) {
    this.send({ QMP: { version: QMP_VERSION, capabilities: [] } });
    this.unsubscribe = registry.onEvent((event, data) => {
      if (this.negotiated) this.send({ event, data, timestamp: qmpTimestamp() });
    });
    ws.on('message', (data) => this.onText(String(data)));
    ws.on('close', () => this.unsubscribe());
    ws.on('error', (e) => this.log.debug({ err: e.message }, 'control socket error'));
  }

  private send(v: unknown): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify(v));
  }

  private error(cls: string, desc: string, id: unknown): void {
    const m: Record<string, unknown> = { error: { class: cls, desc } };
    if (id !== undefined) m.id = id;
    this.send(m);
  }

  private onText(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.error('GenericError', 'JSON parse error', undefined);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.error('GenericError', 'QMP input must be a JSON object', undefined);
      return;
    }
    const m = msg as Record<string, unknown>;
    const id = m.id;
    for (const k of Object.keys(m)) {
      if (k !== 'execute' && k !== 'arguments' && k !== 'id') {
        this.error('GenericError', `QMP input member '${k}' is unexpected`, id);
        return;
      }
    }
    const cmd = m.execute;
    if (typeof cmd !== 'string') {
      this.error('GenericError', "QMP input lacks member 'execute'", id);
      return;
    }
    const args = m.arguments ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      this.error('GenericError', "QMP input member 'arguments' must be an object", id);
      return;
    }
    if (this.queued >= MAX_QUEUED) {
      this.error('GenericError', `too many commands in flight (${MAX_QUEUED})`, id);
      return;
    }
    this.queued++;
    // Answer strictly in order, even when handlers are asynchronous.
    this.chain = this.chain.then(() => this.run(cmd, args as Record<string, unknown>, id)).finally(() => {
      this.queued--;
    });
  }

  private async run(cmd: string, args: Record<string, unknown>, id: unknown): Promise<void> {
    if (cmd === 'qmp_capabilities') {
      if (this.negotiated) {
        this.error('CommandNotFound', 'Capabilities negotiation is already complete, command ignored', id);
        return;
      }
      this.negotiated = true;
      this.answer({}, id);
      return;
    }
    if (!this.negotiated) {
      this.error('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", id);
      return;
    }
    try {
      const r = await this.registry.run(cmd, args);
      this.answer(r ?? {}, id);
    } catch (e) {
      if (e instanceof QmpError) {
        this.error(e.errorClass, e.message, id);
      } else {
        this.log.error({ err: e, cmd }, 'control command failed');
        this.error('GenericError', e instanceof Error ? e.message : String(e), id);
      }
    }
  }

  private answer(r: QmpValue, id: unknown): void {
    const m: Record<string, unknown> = { return: r };
    if (id !== undefined) m.id = id;
    this.send(m);
  }
}
