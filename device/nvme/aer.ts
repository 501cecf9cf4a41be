// Asynchronous events (NVMe 1.4 §5.2): outstanding AER commands, a bounded
// event queue, and per-type masking — an event type posted once is masked
// until the host reads its log page with RAE=0.
import type { NvmeController } from './controller.ts';
import type { Req } from './queues.ts';
import { aerResult } from '../../src/spec/admin.ts';
import { S } from '../../src/spec/status.ts';

export interface AsyncEvent {
  type: number;
  info: number;
  logPage: number;
}

export class AerEngine {
  readonly outstanding: Req[] = [];
  readonly queue: AsyncEvent[] = [];
  /** Bit per event type: masked until the log page is read. */
  mask = 0;
  dropped = 0;
  constructor(private readonly c: NvmeController) {}

  enqueue(type: number, info: number, logPage: number): void {
    if (this.queue.length >= this.c.cfg.aerMaxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push({ type, info, logPage });
    this.process();
  }

  /** Park an AER command. Returns a status when refused (AER Limit Exceeded), else undefined. */
  submit(req: Req): number | undefined {
    if (this.outstanding.length > this.c.cfg.aerl) return S.AER_LIMIT_EXCEEDED; // §5.2: no DNR
    this.outstanding.push(req);
    this.process();
    return undefined;
  }

  /** Complete outstanding AERs with queued, unmasked events. */
  process(): void {
    for (let i = 0; i < this.queue.length && this.outstanding.length > 0; ) {
      const ev = this.queue[i];
      if (ev === undefined) break;
      if ((this.mask & (1 << ev.type)) !== 0) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.mask |= 1 << ev.type;
      const req = this.outstanding.shift();
      if (req !== undefined) this.c.complete(req, S.SUCCESS, aerResult(ev.type, ev.info, ev.logPage));
    }
  }

  /** Get Log Page with RAE=0 on the log that `type` points to: unmask it. */
  clear(type: number): void {
    this.mask &= ~(1 << type);
    this.process();
  }

  /** Abort by CID on the admin queue: complete that AER with Command Abort Requested. */
  abort(cid: number): boolean {
    const i = this.outstanding.findIndex((r) => r.sqe.cid === cid);
    if (i < 0) return false;
    const [req] = this.outstanding.splice(i, 1);
    if (req !== undefined) this.c.complete(req, S.ABORT_REQUESTED, 0);
    return true;
  }

  /** Controller reset: outstanding AERs vanish (no CQE), queued events are dropped. */
  reset(): void {
    this.outstanding.length = 0;
    this.queue.length = 0;
    this.mask = 0;
  }
}
