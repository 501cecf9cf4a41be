// [raw] struct blk_mq_tag_set: per-hw-queue tags with preallocated requests
// and driver PDUs, queue maps (default/read/poll), sharing between queues,
// live change of the hardware queue count.
import { silentLogger } from '../../src/util/log.ts';
import type { Logger } from '../../src/util/log.ts';
import type { HctxType, MisuseCounters, Operations, QueueMapsView, RequestRef, TagSetOptions } from './types.ts';
import { GEN_MASK, RQ_COMPLETE, RQ_IN_FLIGHT, Tags } from './request.ts';
import type { RequestQueue } from './queue.ts';

/** BLK_MQ_MAX_DEPTH. */
export const MAX_DEPTH = 10240;
const TYPES: readonly HctxType[] = ['default', 'read', 'poll'];

export class TagSet<PDU = unknown, HctxData = unknown> {
  readonly ops: Operations<PDU, HctxData>;
  nrHwQueues: number;
  readonly queueDepth: number;
  readonly reservedTags: number;
  readonly blocking: boolean;
  /** BLK_MQ_F_TAG_HCTX_SHARED: one Tags for every hw queue index. */
  readonly hctxShared: boolean;
  readonly noSchedByDefault: boolean;
  readonly timeoutMs: number;
  readonly nrCpus: number;
  readonly log: Logger;
  readonly misuseCounters: MisuseCounters = {
    staleEnd: 0, notUniqueEnd: 0, endAfterTimeout: 0, badState: 0, badStatus: 0, tagLookupMiss: 0, releaseUnderflow: 0, driverThrew: 0, endAfterRemove: 0,
  };
  /** cpu → hw queue index per type (default, read, poll); -1 = none. */
  cpuMaps: Int32Array[] = [];
  /** Per type: [nrQueues, offset]. */
  private maps: Array<[number, number]> = [];
  private tags: Tags[] = [];
  private readonly queues = new Set<RequestQueue>();
  private readonly mapCounts: { default: number; read?: number; poll?: number } | undefined;

  constructor(opts: TagSetOptions<PDU, HctxData>) {
    const bad = (m: string): never => { throw new RangeError(`invalid tag set: ${m}`); };
    if (opts === null || typeof opts !== 'object') bad('options required');
    if (opts.ops === null || typeof opts.ops !== 'object' || typeof opts.ops.queueRq !== 'function') bad('ops.queueRq is required');
    if (typeof opts.ops.initRequest !== 'function') bad('ops.initRequest is required');
    if (!Number.isInteger(opts.nrHwQueues) || opts.nrHwQueues < 1 || opts.nrHwQueues > 65535) bad(`nrHwQueues ${opts.nrHwQueues} (1..65535)`);
    const reserved = opts.reservedTags ?? 0;
    if (!Number.isInteger(reserved) || reserved < 0) bad(`reservedTags ${reserved}`);
    if (!Number.isInteger(opts.queueDepth) || opts.queueDepth < reserved + 1) bad(`queueDepth ${opts.queueDepth} (must be >= reservedTags + 1)`);
    const nrCpus = opts.nrCpus ?? 1;
    if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > 4096) bad(`nrCpus ${nrCpus}`);
    const timeoutMs = opts.timeoutMs ?? 30000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) bad(`timeoutMs ${timeoutMs}`);
    this.log = opts.logger ?? silentLogger;
    let depth = opts.queueDepth;
    if (depth > MAX_DEPTH) { this.log.warn(`blk-mq: reduced tag depth to ${MAX_DEPTH}`); depth = MAX_DEPTH; }
    this.ops = opts.ops;
    this.nrHwQueues = opts.nrHwQueues;
    this.queueDepth = depth;
    this.reservedTags = reserved;
    this.blocking = opts.blocking === true;
    this.hctxShared = opts.hctxShared === true;
    this.noSchedByDefault = opts.noSchedByDefault === true;
    this.timeoutMs = timeoutMs;
    this.nrCpus = nrCpus;
    this.mapCounts = opts.queueMaps;
    this.buildMaps();
    for (let i = 0; i < this.nrHwQueues; i++) this.tags.push(this.newTags(i));
  }

  private newTags(i: number): Tags {
    // With one shared bitmap, every hw queue index gets the same Tags (blk_mq_alloc_map_and_rqs for set->shared_tags).
    if (this.hctxShared && this.tags.length > 0) return this.tags[0] as Tags;
    return new Tags(i, this.queueDepth, this.reservedTags, (tag, hwq) => this.ops.initRequest(tag, hwq));
  }
  /** Each distinct Tags once (with hctxShared all indexes share one). */
  private uniqueTags(): Tags[] { return this.hctxShared ? this.tags.slice(0, 1) : this.tags; }

  /** Default maps, then the driver's mapQueues (blk_mq_update_queue_map). */
  private buildMaps(): void {
    const n = this.nrHwQueues;
    const mc = this.mapCounts;
    let def = n, read = 0, poll = 0;
    if (mc !== undefined) {
      read = mc.read ?? 0; poll = mc.poll ?? 0; def = mc.default;
      if (!Number.isInteger(def) || def < 1 || !Number.isInteger(read) || read < 0 || !Number.isInteger(poll) || poll < 0 || def + read + poll > n) {
        throw new RangeError(`invalid tag set: queueMaps ${JSON.stringify(mc)} for ${n} hw queues`);
      }
      // Queues beyond the requested maps (e.g. after updateNrHwQueues grew) go to default.
      def = n - read - poll;
    }
    this.maps = [[def, 0], [read, def], [poll, def + read]];
    this.cpuMaps = TYPES.map(() => new Int32Array(this.nrCpus).fill(-1));
    const view: QueueMapsView = {
      nrHwQueues: n,
      nrCpus: this.nrCpus,
      setMap: (type, nrQueues, offset) => {
        const ti = TYPES.indexOf(type);
        if (ti < 0 || !Number.isInteger(nrQueues) || nrQueues < 0 || !Number.isInteger(offset) || offset < 0 || offset + nrQueues > n) {
          throw new RangeError(`setMap(${type}, ${nrQueues}, ${offset}) out of range for ${n} hw queues`);
        }
        this.maps[ti] = [nrQueues, offset];
        this.spread(ti);
      },
      setCpuMap: (type, cpu, hwq) => {
        const ti = TYPES.indexOf(type);
        if (ti < 0 || !Number.isInteger(cpu) || cpu < 0 || cpu >= this.nrCpus || !Number.isInteger(hwq) || hwq < 0 || hwq >= n) {
          throw new RangeError(`setCpuMap(${type}, ${cpu}, ${hwq}) out of range`);
        }
        (this.cpuMaps[ti] as Int32Array)[cpu] = hwq;
      },
    };
    for (let ti = 0; ti < 3; ti++) this.spread(ti);
    if (this.ops.mapQueues !== undefined) this.ops.mapQueues(view);
    if ((this.maps[0] as [number, number])[0] < 1) throw new RangeError('invalid tag set: the default map needs at least one queue');
  }

  /** blk_mq_map_queues: spread CPUs round-robin over a map's queues. */
  private spread(ti: number): void {
    const [nr, off] = this.maps[ti] as [number, number];
    const m = this.cpuMaps[ti] as Int32Array;
    for (let cpu = 0; cpu < this.nrCpus; cpu++) m[cpu] = nr > 0 ? off + (cpu % nr) : -1;
  }

  typeOfHwq(i: number): HctxType {
    for (let ti = 2; ti >= 0; ti--) {
      const [nr, off] = this.maps[ti] as [number, number];
      if (nr > 0 && i >= off && i < off + nr) return TYPES[ti] as HctxType;
    }
    return 'default';
  }
  get hasPollQueues(): boolean { return ((this.maps[2] as [number, number])[0]) > 0; }
  tagsOf(i: number): Tags {
    const t = this.tags[i];
    if (t === undefined) throw new RangeError(`no hw queue ${i}`);
    return t;
  }
  get queueCount(): number { return this.queues.size; }
  /** BLK_MQ_F_TAG_QUEUE_SHARED: set while more than one disk uses this tag set (fair sharing applies). */
  get queueShared(): boolean { return this.queues.size > 1; }
  attachQueue(q: RequestQueue): void { this.queues.add(q); }
  detachQueue(q: RequestQueue): void { this.queues.delete(q); }

  /**
   * tag_to_rq for driver lookups: the request if the driver owns it (started,
   * not ended), matching `generation` modulo 16 when given; otherwise
   * undefined, and the miss is counted.
   */
  tagToRq(hwq: number, tag: number, generation?: number): RequestRef<PDU> | undefined {
    return this.tagToRqOn(hwq, tag, generation, null) as RequestRef<PDU> | undefined;
  }
  tagToRqOn(hwq: number, tag: number, generation: number | undefined, q: RequestQueue | null): RequestRef | undefined {
    // Called once per completion: no closure here (the miss path is a method).
    const tags = this.tags[hwq];
    if (tags === undefined) return this.lookupMiss(hwq, tag, 'no such hw queue');
    if (!Number.isInteger(tag) || tag < 0 || tag >= tags.depth) return this.lookupMiss(hwq, tag, 'tag out of range');
    const rq = tags.rqs[tag];
    if (rq === undefined || rq.state !== RQ_IN_FLIGHT) return this.lookupMiss(hwq, tag, rq?.state === RQ_COMPLETE ? 'already completing' : 'not owned by the driver');
    if (q !== null && rq.queue !== q) return this.lookupMiss(hwq, tag, 'belongs to another queue');
    if (generation !== undefined && ((generation ^ rq.gen) & GEN_MASK) !== 0) {
      return this.lookupMiss(hwq, tag, `stale generation ${generation & GEN_MASK} (current ${rq.gen & GEN_MASK})`);
    }
    return rq.handle;
  }

  /** A refused tag lookup: counted, and logged Linux-style (rate-limited). */
  private lookupMiss(hwq: number, tag: number, why: string): undefined {
    this.misuseCounters.tagLookupMiss++;
    const n = this.misuseCounters.tagLookupMiss;
    if (n <= 20 || n % 1000 === 0) this.log.warn(`invalid id ${tag} completed on queue ${hwq}: ${why} (${n} misses so far)`);
    return undefined;
  }

  /** Count of tags in use on each hw queue (leak checks); one entry for an hctxShared set. */
  busyTags(): number[] { return this.uniqueTags().map((t) => t.nrBusy); }

  /** blk_mq_tagset_busy_iter: visit every driver-owned request (e.g. to cancel them on reset). */
  busyIter(fn: (rq: RequestRef<PDU>) => void): void {
    for (const t of this.uniqueTags()) {
      for (const rq of t.rqs) {
        if (rq.state === RQ_IN_FLIGHT) fn(rq.handle as RequestRef<PDU>);
      }
    }
  }

  /**
   * blk_mq_update_nr_hw_queues: freeze every queue of the set (in-flight
   * drains, new I/O waits), re-create tags and maps, re-init hctxs, unfreeze.
   * n < 1 or n == current is a no-op. New tags get fresh initRequest PDUs.
   */
  async updateNrHwQueues(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 1 || n === this.nrHwQueues) return;
    const qs = [...this.queues];
    await Promise.all(qs.map((q) => q.freeze()));
    for (const q of qs) q.quiesce();
    const old = this.nrHwQueues;
    try {
      this.nrHwQueues = n;
      this.buildMaps();
      if (n > this.tags.length) for (let i = this.tags.length; i < n; i++) this.tags.push(this.newTags(i));
      else this.tags.length = n;
      for (const q of qs) q.buildHctxs();
    } catch (e) {
      this.log.warn(`Increasing nr_hw_queues to ${n} fails, fallback to ${old}`);
      this.nrHwQueues = old;
      this.tags.length = Math.min(this.tags.length, old);
      for (let i = this.tags.length; i < old; i++) this.tags.push(this.newTags(i));
      this.buildMaps();
      for (const q of qs) q.buildHctxs();
      throw e;
    } finally {
      for (const q of qs) { q.unquiesce(); q.unfreeze(); }
    }
  }
}
