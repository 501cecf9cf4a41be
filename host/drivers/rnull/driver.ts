// rnull: the null block driver (after drivers/block/null_blk/main.c), written
// only against the typed blk-mq API (host/block/types.ts). It keeps no raw
// state about requests: it holds RequestRefs, ends them once, and finds them
// only through what the block layer hands it.
//
// Hot path (queueRq → data → end/complete/timer) allocates nothing: the PDU
// (NullbCmd) is created once per tag, per-hctx rings are preallocated, and
// timer-mode completions share one timer per hardware queue.

import type { Logger } from '../../../src/util/log.ts';
import { silentLogger } from '../../../src/util/log.ts';
import {
  BLK_STS, REQ_OP, REQ_FLAG,
  type BlkStatus, type HctxType, type HwQueue, type Operations, type QueueMapsView, type RequestRef, type TimeoutResult,
} from '../../block/types.ts';
import { type NullBlkConfig, NULL_IRQ_NONE, NULL_IRQ_SOFTIRQ, NULL_Q_BIO, NullBlkConfigError, type ValidatedConfig } from './config.ts';
import { FaultAttr, FAULT_ATTR_DEFAULTS } from './fault.ts';
import { NullbStore, MemStatus, SECTOR_SHIFT } from './memory.ts';
import { BadBlocks } from './badblocks.ts';
import { ZonedDevice, type ZoneMgmtOp, type ZoneWriteProcessor } from './zoned.ts';
import { Throttle, nodeTimers, type TimerSource } from './throttle.ts';

/** Per-request driver data (struct nullb_cmd), one per tag, reused. */
export class NullbCmd {
  error: BlkStatus = BLK_STS.OK;
  fakeTimeout = false;
}

/** A FIFO of request handles with optional due times; grows only if ever full. */
class RqRing {
  private rqs: (RequestRef<NullbCmd> | undefined)[];
  private due: Float64Array;
  private head = 0;
  private n = 0;
  constructor(cap: number) {
    this.rqs = new Array<RequestRef<NullbCmd> | undefined>(Math.max(4, cap)).fill(undefined);
    this.due = new Float64Array(Math.max(4, cap));
  }
  get length(): number {
    return this.n;
  }
  push(rq: RequestRef<NullbCmd>, due = 0): void {
    if (this.n === this.rqs.length) this.grow();
    const i = (this.head + this.n) % this.rqs.length;
    this.rqs[i] = rq;
    this.due[i] = due;
    this.n++;
  }
  peekDue(): number {
    return this.due[this.head] ?? 0;
  }
  shift(): RequestRef<NullbCmd> | undefined {
    if (this.n === 0) return undefined;
    const rq = this.rqs[this.head];
    this.rqs[this.head] = undefined;
    this.head = (this.head + 1) % this.rqs.length;
    this.n--;
    return rq;
  }
  /** Remove one entry by identity (timeout path; not hot). */
  remove(rq: RequestRef<NullbCmd>): boolean {
    const len = this.n;
    let found = false;
    for (let k = 0; k < len; k++) {
      const x = this.shift();
      if (x === undefined) continue;
      if (!found && x === rq) {
        found = true;
        continue;
      }
      this.push(x, 0);
    }
    return found;
  }
  private grow(): void {
    const cap = this.rqs.length * 2;
    const rqs = new Array<RequestRef<NullbCmd> | undefined>(cap).fill(undefined);
    const due = new Float64Array(cap);
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) % this.rqs.length;
      rqs[k] = this.rqs[i];
      due[k] = this.due[i] ?? 0;
    }
    this.rqs = rqs;
    this.due = due;
    this.head = 0;
  }
}

/** Per-hardware-queue driver data (struct nullb_queue). */
export class NullbQueue {
  requeueSelection = 0;
  hctx: HwQueue<NullbQueue> | undefined = undefined;
  /** Poll-queue requests waiting for ->poll (nq->poll_list). */
  readonly pollList: RqRing;
  /** Timer-mode completions, in due order (constant delay → FIFO). */
  readonly timerList: RqRing;
  /** Requests held back by timeout injection (ended by the timeout handler). */
  readonly faked: RqRing;
  private timer: unknown = undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined = undefined;
  private readonly onTimer = (): void => this.fireTimer();

  constructor(readonly dev: NullbDevice, readonly index: number, readonly type: HctxType, depth: number) {
    this.pollList = new RqRing(depth);
    this.timerList = new RqRing(depth);
    this.faked = new RqRing(4);
  }

  /** irqmode=2: queue for completion after completion_nsec; one timer per hctx. */
  addTimed(rq: RequestRef<NullbCmd>): void {
    const delayMs = this.dev.completionMs;
    this.timerList.push(rq, performance.now() + delayMs);
    if (this.timer === undefined && this.immediate === undefined) this.arm(delayMs);
  }

  private arm(delayMs: number): void {
    // Sub-millisecond delays: the next turn of the event loop is the closest
    // we can get, and it batches everything that became due meanwhile.
    if (delayMs < 1) this.immediate = setImmediate(this.onTimer);
    else this.timer = this.dev.timers.setTimeout(this.onTimer, delayMs);
  }

  private fireTimer(): void {
    this.timer = undefined;
    this.immediate = undefined;
    const now = performance.now();
    while (this.timerList.length > 0 && this.timerList.peekDue() <= now + 0.001) {
      const rq = this.timerList.shift();
      if (rq && rq.valid) rq.end(rq.pdu.error);
    }
    if (this.timerList.length > 0) this.arm(Math.max(0, this.timerList.peekDue() - now));
  }

  /** Power-off: end everything the driver still holds. */
  drain(): void {
    if (this.timer !== undefined) this.dev.timers.clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    for (let rq = this.timerList.shift(); rq; rq = this.timerList.shift()) if (rq.valid) rq.end(rq.pdu.error);
    for (let rq = this.pollList.shift(); rq; rq = this.pollList.shift()) if (rq.valid) rq.end(this.dev.processCmdFor(rq));
    for (let rq = this.faked.shift(); rq; rq = this.faked.shift()) if (rq.valid) rq.end(BLK_STS.IOERR);
  }
}

/** Driver-side counters (reporting and tests). */
export interface NullbDriverStats {
  queued: number;
  requeueInjected: number;
  resourceBusy: number;
  timeoutInjected: number;
  timedOut: number;
  throttled: number;
  polled: number;
  badblockHits: number;
}

/** What a device needs from its host: timers, logging. */
export interface DeviceEnv {
  logger: Logger;
  timers: TimerSource;
  /** Data kept from an earlier power cycle (null_blk keeps it in nullb_device). */
  store?: NullbStore | undefined;
}

const ZONE_VERB: Partial<Record<number, ZoneMgmtOp>> = {
  [REQ_OP.ZONE_OPEN]: 'open',
  [REQ_OP.ZONE_CLOSE]: 'close',
  [REQ_OP.ZONE_FINISH]: 'finish',
  [REQ_OP.ZONE_RESET]: 'reset',
  [REQ_OP.ZONE_RESET_ALL]: 'reset_all',
};

/**
 * A powered null_blk device (struct nullb): its queues, store, zones,
 * bad blocks, throttle and fault attributes. Built by the registry.
 */
export class NullbDevice implements ZoneWriteProcessor {
  readonly config: NullBlkConfig;
  readonly store: NullbStore | undefined;
  readonly zones: ZonedDevice | undefined;
  readonly badblocks: BadBlocks;
  throttle: Throttle | undefined = undefined;
  readonly timeoutAttr: FaultAttr;
  readonly requeueAttr: FaultAttr;
  readonly initHctxAttr: FaultAttr;
  readonly queues: (NullbQueue | undefined)[] = [];
  readonly completionMs: number;
  readonly timers: TimerSource;
  readonly logger: Logger;
  readonly stats: NullbDriverStats = { queued: 0, requeueInjected: 0, resourceBusy: 0, timeoutInjected: 0, timedOut: 0, throttled: 0, polled: 0, badblockHits: 0 };
  private readonly blockSectors: number;
  private readonly onZoneReset: ((start: number, len: number) => void) | undefined;
  /** The request whose data the zone write callback moves (single-threaded). */
  private curRq: RequestRef<NullbCmd> | undefined = undefined;
  dying = false;

  constructor(readonly diskName: string, v: ValidatedConfig, badblocks: BadBlocks, faults: { timeout: FaultAttr; requeue: FaultAttr; initHctx: FaultAttr }, env: DeviceEnv) {
    const c = v.config;
    this.config = c;
    this.logger = env.logger;
    this.timers = env.timers;
    this.badblocks = badblocks;
    this.timeoutAttr = faults.timeout;
    this.requeueAttr = faults.requeue;
    this.initHctxAttr = faults.initHctx;
    this.completionMs = c.completion_nsec / 1e6;
    this.blockSectors = c.blocksize >> SECTOR_SHIFT;
    const kept = env.store;
    this.store = !c.memory_backed
      ? undefined
      : kept && kept.blocksize === c.blocksize && kept.cacheBytesMax === c.cache_size * 1024 * 1024
        ? kept
        : new NullbStore({ blocksize: c.blocksize, cacheSizeMiB: c.cache_size });
    if (c.zoned) {
      try {
        this.zones = new ZonedDevice({
          sizeMiB: c.size, zoneSizeMiB: c.zone_size, zoneCapacityMiB: c.zone_capacity, zoneNrConv: c.zone_nr_conv,
          zoneMaxOpen: c.zone_max_open, zoneMaxActive: c.zone_max_active, zoneFull: c.zone_full,
        });
      } catch (e) {
        throw new NullBlkConfigError('EINVAL', e instanceof Error ? e.message : String(e));
      }
      for (const n of this.zones.notes) this.logger.info({ disk: diskName }, n);
    } else this.zones = undefined;
    const store = this.store;
    this.onZoneReset = store ? (start, len) => store.discard(start, len) : undefined;
  }

  /** Set up the throttle once the disk exists (needs the queues to stop/start). */
  startThrottle(): void {
    if (this.config.mbps > 0) {
      this.throttle = new Throttle(this.config.mbps, {
        stopHwQueues: () => {
          for (const q of this.queues) q?.hctx?.stopQueue();
        },
        startStoppedHwQueues: () => {
          for (const q of this.queues) if (q?.hctx?.stopped) q.hctx.startQueue();
        },
      }, this.timers);
    }
  }

  // ---- command processing (null_handle_cmd / null_process_cmd) ----------

  /** ZoneWriteProcessor: the data part of a zone write, at `sector`. */
  processZoneWrite(sector: number, nrSectors: number): BlkStatus {
    const rq = this.curRq;
    if (!rq) return BLK_STS.IOERR;
    return this.processCmd(rq, REQ_OP.WRITE, sector, nrSectors);
  }

  /** null_process_cmd: bad blocks, then the memory-backed transfer. */
  private processCmd(rq: RequestRef<NullbCmd>, op: number, sector: number, nrSectors: number): BlkStatus {
    let nr = nrSectors;
    let bbStatus: BlkStatus = BLK_STS.OK;
    if (this.badblocks.enabled && nr > 0) {
      const partial = this.badblocks.handle(sector, nr, this.blockSectors, this.config.badblocks_once, this.config.badblocks_partial_io);
      if (partial !== undefined) {
        this.stats.badblockHits++;
        nr = partial;
        bbStatus = BLK_STS.IOERR;
      }
    }
    if (nr > 0 || op === REQ_OP.FLUSH) {
      const st = this.store ? this.memoryCmd(rq, op, sector, nr) : this.nullCmd(rq, op, nr);
      if (st !== BLK_STS.OK) return st;
    }
    return bbStatus;
  }

  /** Not memory backed: reads return zeros, writes are dropped. */
  private nullCmd(rq: RequestRef<NullbCmd>, op: number, nr: number): BlkStatus {
    if (op === REQ_OP.READ) {
      let left = nr << SECTOR_SHIFT;
      for (const b of rq.bvecs) {
        if (left <= 0) break;
        const n = Math.min(left, b.length);
        b.fill(0, 0, n);
        left -= n;
      }
    }
    return BLK_STS.OK;
  }

  /** null_handle_memory_backed: discard/write-zeroes free pages; else data transfer. */
  private memoryCmd(rq: RequestRef<NullbCmd>, op: number, sector: number, nr: number): BlkStatus {
    const store = this.store;
    if (!store) return BLK_STS.OK;
    switch (op) {
      case REQ_OP.DISCARD:
      case REQ_OP.WRITE_ZEROES:
      case REQ_OP.SECURE_ERASE:
        store.discard(sector, nr);
        return BLK_STS.OK;
      case REQ_OP.READ: {
        let left = nr << SECTOR_SHIFT;
        // Zoned: sectors past the write pointer read as 0xff.
        let valid = left;
        if (this.zones) valid = this.zones.validReadSectors(sector, nr) << SECTOR_SHIFT;
        let s = sector;
        for (const b of rq.bvecs) {
          if (left <= 0) break;
          const n = Math.min(left, b.length);
          const v = Math.max(0, Math.min(n, valid));
          if (v > 0) store.read(s, b, 0, v);
          if (v < n) b.fill(0xff, v, n);
          valid -= n;
          left -= n;
          s += n >> SECTOR_SHIFT;
        }
        return BLK_STS.OK;
      }
      case REQ_OP.WRITE:
      case REQ_OP.ZONE_APPEND: {
        const fua = (rq.flags & REQ_FLAG.FUA) !== 0;
        let left = nr << SECTOR_SHIFT;
        let s = sector;
        for (const b of rq.bvecs) {
          if (left <= 0) break;
          const n = Math.min(left, b.length);
          const st = store.write(s, b, 0, n, fua);
          if (st !== MemStatus.OK) return BLK_STS.NOSPC;
          left -= n;
          s += n >> SECTOR_SHIFT;
        }
        return BLK_STS.OK;
      }
      default:
        return BLK_STS.OK;
    }
  }

  /** null_handle_flush. */
  private flush(): BlkStatus {
    if (!this.store) return BLK_STS.OK;
    const st = this.store.flush();
    return st === MemStatus.OK ? BLK_STS.OK : st === MemStatus.NOSPC ? BLK_STS.NOSPC : BLK_STS.RESOURCE;
  }

  /** null_process_zoned_cmd. */
  private zonedCmd(rq: RequestRef<NullbCmd>, zones: ZonedDevice, op: number, sector: number, nr: number): BlkStatus {
    switch (op) {
      case REQ_OP.WRITE:
      case REQ_OP.ZONE_APPEND: {
        const append = op === REQ_OP.ZONE_APPEND;
        this.curRq = rq;
        const st = zones.write(sector, nr, append, this);
        this.curRq = undefined;
        if (st === BLK_STS.OK && append) rq.setResultSector(zones.lastAppendSector);
        return st;
      }
      case REQ_OP.ZONE_OPEN:
      case REQ_OP.ZONE_CLOSE:
      case REQ_OP.ZONE_FINISH:
      case REQ_OP.ZONE_RESET:
      case REQ_OP.ZONE_RESET_ALL: {
        const verb = ZONE_VERB[op];
        return verb ? zones.mgmt(verb, sector, this.onZoneReset) : BLK_STS.NOTSUPP;
      }
      default: {
        const st = zones.checkRead(sector);
        if (st !== BLK_STS.OK) return st;
        return this.processCmd(rq, op, sector, nr);
      }
    }
  }

  /** The status a request gets from the device model (null_handle_cmd without completion). */
  processCmdFor(rq: RequestRef<NullbCmd>): BlkStatus {
    const op = rq.op;
    if (op === REQ_OP.FLUSH) return this.flush();
    const nr = rq.bytes >> SECTOR_SHIFT;
    if (this.zones) return this.zonedCmd(rq, this.zones, op, rq.sector, nr);
    if (op >= REQ_OP.ZONE_OPEN && op <= REQ_OP.ZONE_RESET_ALL) return BLK_STS.NOTSUPP;
    if (op === REQ_OP.ZONE_APPEND) return BLK_STS.NOTSUPP;
    return this.processCmd(rq, op, rq.sector, nr);
  }

  /** null_handle_cmd + nullb_complete_cmd. */
  handleCmd(nq: NullbQueue, rq: RequestRef<NullbCmd>): void {
    const cmd = rq.pdu;
    const st = this.processCmdFor(rq);
    // Do not overwrite errors (e.g. timeout errors).
    if (cmd.error === BLK_STS.OK) cmd.error = st;
    switch (this.config.irqmode) {
      case NULL_IRQ_NONE:
        rq.end(cmd.error);
        break;
      case NULL_IRQ_SOFTIRQ:
        rq.complete(cmd.error);
        break;
      default:
        nq.addTimed(rq);
        break;
    }
  }
}

/**
 * The Operations vtable (null_mq_ops). One instance per tag set; for a shared
 * tag set it routes by the disk name handed to initHctx.
 */
export class NullOps implements Operations<NullbCmd, NullbQueue> {
  constructor(
    private readonly lookup: (diskName: string) => NullbDevice | undefined,
    /** Current [submit_queues, poll_queues] for null_map_queues. */
    private readonly counts: () => readonly [number, number],
    private readonly depth: number,
  ) {}

  initRequest(): NullbCmd {
    return new NullbCmd();
  }

  /** null_init_hctx: may be failed by init_hctx fault injection (-EFAULT). */
  initHctx(hwqIndex: number, type: HctxType, diskName: string): NullbQueue {
    const dev = this.lookup(diskName);
    if (!dev) throw new NullBlkConfigError('ENODEV', `init_hctx: no null_blk device for disk ${diskName}`);
    if (dev.initHctxAttr.enabled && dev.initHctxAttr.shouldFail()) throw new NullBlkConfigError('EFAULT', `init_hctx ${hwqIndex} of ${diskName} failed (fault injection)`);
    const nq = new NullbQueue(dev, hwqIndex, type, this.depth);
    dev.queues[hwqIndex] = nq;
    return nq;
  }

  exitHctx(hctx: HwQueue<NullbQueue>): void {
    const nq = hctx.driverData;
    nq.drain();
    nq.hctx = undefined;
    if (nq.dev.queues[nq.index] === nq) nq.dev.queues[nq.index] = undefined;
  }

  /** null_map_queues: DEFAULT = submit_queues, READ = 0, POLL = poll_queues. */
  mapQueues(maps: QueueMapsView): void {
    let [submit, poll] = this.counts();
    if (submit + poll !== maps.nrHwQueues) {
      // Like null_blk's fallback when the set has an unexpected queue count.
      submit = Math.max(1, maps.nrHwQueues - poll);
      if (submit + poll !== maps.nrHwQueues) {
        submit = maps.nrHwQueues;
        poll = 0;
      }
    }
    maps.setMap('default', submit, 0);
    maps.setMap('read', 0, 0);
    maps.setMap('poll', poll, submit);
  }

  /** null_queue_rq. */
  queueRq(hctx: HwQueue<NullbQueue>, rq: RequestRef<NullbCmd>): BlkStatus {
    const nq = hctx.driverData;
    const dev = nq.dev;
    nq.hctx = hctx;
    const cmd = rq.pdu;
    cmd.error = BLK_STS.OK;
    cmd.fakeTimeout = dev.timeoutAttr.enabled && dev.timeoutAttr.shouldFail();

    if (dev.requeueAttr.enabled && dev.requeueAttr.shouldFail()) {
      // Alternate between the core's BUSY path and the driver-driven requeue.
      dev.stats.requeueInjected++;
      nq.requeueSelection++;
      if ((nq.requeueSelection & 1) === 1) {
        dev.stats.resourceBusy++;
        return BLK_STS.RESOURCE;
      }
      rq.requeue(true);
      return BLK_STS.OK;
    }

    if (dev.throttle && !dev.throttle.charge(rq.bytes)) {
      dev.stats.throttled++;
      return BLK_STS.DEV_RESOURCE;
    }

    dev.stats.queued++;
    if (hctx.type === 'poll') {
      nq.pollList.push(rq);
      return BLK_STS.OK;
    }
    if (cmd.fakeTimeout) {
      dev.stats.timeoutInjected++;
      nq.faked.push(rq);
      return BLK_STS.OK;
    }
    dev.handleCmd(nq, rq);
    return BLK_STS.OK;
  }

  /** null_complete_rq (softirq mode). */
  complete(rq: RequestRef<NullbCmd>, status: BlkStatus): void {
    rq.end(status);
  }

  /** null_poll: process and end everything queued on this poll hctx. */
  poll(hctx: HwQueue<NullbQueue>): number {
    const nq = hctx.driverData;
    const dev = nq.dev;
    let nr = 0;
    const n = nq.pollList.length;
    for (let k = 0; k < n; k++) {
      const rq = nq.pollList.shift();
      if (!rq || !rq.valid) continue;
      rq.pdu.error = dev.processCmdFor(rq);
      rq.end(rq.pdu.error);
      nr++;
    }
    dev.stats.polled += nr;
    return nr;
  }

  /** null_timeout_rq: end with BLK_STS_TIMEOUT. */
  timeout(rq: RequestRef<NullbCmd>): TimeoutResult {
    const dev = this.lookup(rq.diskName);
    const nq = dev?.queues[rq.hwqIndex];
    const cmd = rq.pdu;
    if (nq && nq.type === 'poll') {
      // The request may have completed meanwhile.
      if (!nq.pollList.remove(rq)) return 'done';
    }
    if (nq && cmd.fakeTimeout) nq.faked.remove(rq);
    dev?.logger.info({ disk: rq.diskName, tag: rq.tag, hwq: rq.hwqIndex }, 'rq timed out');
    if (dev) dev.stats.timedOut++;
    cmd.error = BLK_STS.TIMEOUT;
    if (rq.valid) rq.end(BLK_STS.TIMEOUT);
    return 'done';
  }
}

/** Fault attributes for a device from its validated config, seeded per purpose. */
export function makeFaultAttrs(v: ValidatedConfig): { timeout: FaultAttr; requeue: FaultAttr; initHctx: FaultAttr } {
  const seed = v.config.seed >>> 0;
  return {
    timeout: new FaultAttr(v.faults.timeout ?? FAULT_ATTR_DEFAULTS, seed ^ 0x7100),
    requeue: new FaultAttr(v.faults.requeue ?? FAULT_ATTR_DEFAULTS, seed ^ 0x7200),
    initHctx: new FaultAttr(v.faults.init_hctx ?? FAULT_ATTR_DEFAULTS, seed ^ 0x7300),
  };
}

export const QUEUE_MODE_BIO_NOTE = 'BIO-based IO path is no longer available, using blk-mq instead.';
export { NULL_Q_BIO, nodeTimers, silentLogger };
