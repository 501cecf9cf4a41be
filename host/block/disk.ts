// gendisk, the host-wide disk registry and the user-facing BlockDevice API.
// Every argument is validated here, before anything is queued.
import { BLK_STS, BlockError, REQ_FLAG, REQ_OP, SECTOR_SHIFT } from './types.ts';
import type { BlkStatus, BlockDevice, DiskStat, GenDiskOptions, QueueLimits, ReqOp, SubmitCallback, ZoneInfo } from './types.ts';
import { Plug, RequestQueue } from './queue.ts';
import type { TagSet } from './tagset.ts';

const registry = new Map<string, GenDisk>();

/** Look up a registered disk. */
export function getDisk(name: string): GenDisk | undefined { return registry.get(name); }
/** Names of registered disks, sorted. */
export function listDisks(): string[] { return [...registry.keys()].sort(); }
/** Open a registered disk by name (ENODEV BlockError if absent). */
export function openDisk(name: string): BlockDevice {
  const d = registry.get(name);
  if (d === undefined) throw new BlockError(BLK_STS.OFFLINE, `no such disk ${JSON.stringify(name)}`, 'BLK_ENODEV');
  return d.open();
}

const ZONE_MGMT = new Set<number>([REQ_OP.ZONE_OPEN, REQ_OP.ZONE_CLOSE, REQ_OP.ZONE_FINISH, REQ_OP.ZONE_RESET, REQ_OP.ZONE_RESET_ALL]);

export class GenDisk<PDU = unknown, HctxData = unknown> extends RequestQueue {
  private registered = false;
  private readonly reportZonesFn: GenDiskOptions['reportZones'];
  private removing: Promise<void> | null = null;
  constructor(opts: GenDiskOptions<PDU, HctxData>) {
    super({ name: opts.name, tagSet: opts.tagSet as unknown as TagSet<unknown, unknown>, capacitySectors: opts.capacitySectors, limits: opts.limits, scheduler: opts.scheduler });
    this.reportZonesFn = opts.reportZones;
    if (opts.autoPoll === false) this.autoPoll = false;
    if (opts.ioPollDelay !== undefined) {
      if (!Number.isInteger(opts.ioPollDelay) || opts.ioPollDelay < -1) throw new RangeError(`invalid ioPollDelay ${opts.ioPollDelay} (-1, 0 or µs)`);
      this.ioPollDelay = opts.ioPollDelay;
    }
    if (this.limits.zoned === 'host-managed' && this.reportZonesFn === undefined) {
      this.tagSet.detachQueue(this);
      throw new RangeError('invalid gendisk: a host-managed zoned disk needs reportZones');
    }
  }
  get capacityBytes(): number { return this.capacitySectors * 512; }
  get isRegistered(): boolean { return this.registered; }

  /** device_add_disk: register in the host-wide registry (EEXIST if the name is taken). */
  add(): this {
    if (this.dying) throw new BlockError(BLK_STS.OFFLINE, `disk ${this.name} was removed`, 'BLK_ENODEV');
    if (registry.has(this.name)) throw new BlockError(BLK_STS.INVAL, `disk ${this.name} already exists`, 'BLK_EEXIST');
    registry.set(this.name, this as GenDisk);
    this.registered = true;
    return this;
  }

  /** set_capacity (e.g. namespace resize). Later I/O beyond it fails validation. */
  setCapacity(sectors: number): void {
    if (!Number.isSafeInteger(sectors) || sectors < 0 || sectors % (this.limits.logicalBlockSize >>> SECTOR_SHIFT) !== 0) {
      throw new RangeError(`invalid capacity ${sectors}`);
    }
    this.capacitySectors = sectors;
  }

  /** del_gendisk: unregister, fail queued I/O, give in-flight `graceMs` then fail it. Idempotent. */
  remove(graceMs = 100): Promise<void> {
    if (this.removing !== null) return this.removing;
    if (this.registered && registry.get(this.name) === this) registry.delete(this.name);
    this.registered = false;
    this.removing = this.destroy(graceMs);
    return this.removing;
  }

  open(): BlockDevice {
    return new BlockDeviceImpl(this as GenDisk);
  }

  stat(): DiskStat { return this.getStat(); }

  /** blkdev_report_zones: zones from the one containing `sector`, at most nrZones. */
  async reportZones(sector: number, nrZones: number): Promise<ZoneInfo[]> {
    if (this.limits.zoned === 'none' || this.reportZonesFn === undefined) throw new BlockError(BLK_STS.NOTSUPP, `${this.name}: not a zoned disk`);
    if (this.dying) throw new BlockError(BLK_STS.OFFLINE, `${this.name}: disk removed`);
    if (!Number.isSafeInteger(sector) || sector < 0 || sector >= this.capacitySectors) throw new BlockError(BLK_STS.INVAL, `${this.name}: report zones from sector ${sector} beyond capacity`, 'BLK_EINVAL_ARG');
    if (!Number.isSafeInteger(nrZones) || nrZones < 1) throw new BlockError(BLK_STS.INVAL, `${this.name}: nrZones ${nrZones} must be >= 1`, 'BLK_EINVAL_ARG');
    // Start at the zone containing `sector`, as the kernel does.
    const zs = this.limits.zoneSectors;
    const zones = await this.reportZonesFn(sector - (sector % zs), nrZones);
    if (!Array.isArray(zones)) throw new BlockError(BLK_STS.IOERR, `${this.name}: driver returned no zone array`);
    return zones.length > nrZones ? zones.slice(0, nrZones) : zones;
  }
}

/** One submitter's handle on a disk. */
export class BlockDeviceImpl implements BlockDevice {
  cpu = 0;
  private hipri = false;
  private readonly plugState = new Plug();
  private closed = false;
  constructor(private readonly disk: GenDisk) {
    disk.plugs.add(this.plugState);
  }
  get name(): string { return this.disk.name; }
  get capacityBytes(): number { return this.disk.capacitySectors * 512; }
  get logicalBlockSize(): number { return this.disk.limits.logicalBlockSize; }
  get limits(): Readonly<QueueLimits> { return this.disk.limits; }
  get polled(): boolean { return this.hipri; }
  set polled(v: boolean) {
    if (v && !this.disk.tagSet.hasPollQueues) throw new BlockError(BLK_STS.NOTSUPP, `${this.disk.name}: no poll queues (io_poll 0)`);
    this.hipri = v === true;
  }
  poll(cpu = this.cpu): number {
    if (this.closed) return 0;
    return this.disk.poll(Number.isInteger(cpu) && cpu >= 0 && cpu < this.disk.tagSet.nrCpus ? cpu : -1);
  }

  /** Returns an error message, or null when the request is acceptable. */
  private check(op: ReqOp, offset: number, length: number, buf: Uint8Array | null, cpu: number, flags: number): string | null {
    const d = this.disk;
    const l = d.limits;
    if (this.closed) return 'block device handle is closed';
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= d.tagSet.nrCpus) return `cpu ${cpu} out of range (0..${d.tagSet.nrCpus - 1})`;
    // submit_bio_noacct: REQ_POLLED on a queue without BLK_FEAT_POLL fails with BLK_STS_NOTSUPP.
    if ((flags & REQ_FLAG.POLLED) !== 0 && !d.tagSet.hasPollQueues) return 'polled I/O not supported (no poll queues)';
    if (op === REQ_OP.FLUSH || op === REQ_OP.ZONE_RESET_ALL) return null;
    if (!Number.isSafeInteger(offset) || offset < 0) return `offset ${offset} is not a non-negative integer`;
    if (!Number.isSafeInteger(length) || length < 0) return `length ${length} is not a non-negative integer`;
    const lbs = l.logicalBlockSize;
    if (offset % lbs !== 0) return `offset ${offset} is not aligned to the logical block size ${lbs}`;
    const cap = d.capacitySectors * 512;
    if (ZONE_MGMT.has(op)) {
      if (l.zoned === 'none') return `${d.name} is not zoned`;
      if ((offset >>> 0) !== offset && offset % (l.zoneSectors * 512) !== 0) return `offset ${offset} is not a zone start`;
      if ((offset / 512) % l.zoneSectors !== 0) return `offset ${offset} is not a zone start`;
      if (offset >= cap) return `offset ${offset} beyond capacity ${cap}`;
      return null;
    }
    if (length === 0) return 'length must be > 0';
    if (length % lbs !== 0) return `length ${length} is not a multiple of the logical block size ${lbs}`;
    if (offset + length > cap) return `range ${offset}+${length} exceeds capacity ${cap}`;
    if (buf !== null && l.dmaAlignment !== 0 && (buf.byteOffset & l.dmaAlignment) !== 0) return `buffer not aligned to ${l.dmaAlignment + 1} bytes`;
    if (op === REQ_OP.DISCARD && l.maxDiscardSectors === 0) return 'discard not supported';
    if (op === REQ_OP.WRITE_ZEROES && l.maxWriteZeroesSectors === 0) return 'write zeroes not supported';
    if (op === REQ_OP.ZONE_APPEND) {
      if (l.zoned === 'none' || l.maxZoneAppendSectors === 0) return 'zone append not supported';
      if ((offset / 512) % l.zoneSectors !== 0) return 'zone append must target a zone start';
      if (length / 512 > l.maxZoneAppendSectors) return `zone append of ${length} bytes exceeds zone_append_max_bytes ${l.maxZoneAppendSectors * 512}`;
      // A zone append is never split (bio_split_rw refuses): it must fit one request's segments.
      if (Math.ceil(length / l.maxSegmentSize) > l.maxSegments) return `zone append of ${length} bytes needs more than max_segments ${l.maxSegments} segments`;
    }
    return null;
  }

  private static statusFor(msg: string): BlkStatus {
    return msg.includes('not supported') || msg.includes('not zoned') ? BLK_STS.NOTSUPP : BLK_STS.INVAL;
  }

  submit(op: ReqOp, offset: number, bufOrLength: Uint8Array | number, flags: number, cpu: number, cb: SubmitCallback): void {
    const buf = typeof bufOrLength === 'number' ? null : bufOrLength;
    const length = buf === null ? (bufOrLength as number) : buf.length;
    if (op !== REQ_OP.READ && op !== REQ_OP.WRITE && op !== REQ_OP.FLUSH && op !== REQ_OP.DISCARD && op !== REQ_OP.WRITE_ZEROES &&
      op !== REQ_OP.ZONE_APPEND && !ZONE_MGMT.has(op)) { cb(BLK_STS.NOTSUPP, 0); return; }
    if ((op === REQ_OP.READ || op === REQ_OP.WRITE || op === REQ_OP.ZONE_APPEND) && buf === null) { cb(BLK_STS.INVAL, 0); return; }
    const err = this.check(op, offset, length, buf, cpu, flags);
    if (err !== null) { cb(BlockDeviceImpl.statusFor(err), 0); return; }
    this.queue(op, offset, length, buf, flags, cpu, cb);
  }

  private queue(op: ReqOp, offset: number, length: number, buf: Uint8Array | null, flags: number, cpu: number, cb: SubmitCallback): void {
    const d = this.disk;
    const bio = d.pools.getBio();
    bio.op = op;
    // REQ_POLLED is only meaningful for reads and writes (bio_clear_polled otherwise).
    bio.flags = op === REQ_OP.READ || op === REQ_OP.WRITE ? flags | 0 : (flags | 0) & ~REQ_FLAG.POLLED;
    bio.sector = op === REQ_OP.FLUSH || op === REQ_OP.ZONE_RESET_ALL ? 0 : offset / 512;
    bio.nrSectors = ZONE_MGMT.has(op) || op === REQ_OP.FLUSH ? 0 : length / 512;
    bio.buf = op === REQ_OP.READ || op === REQ_OP.WRITE || op === REQ_OP.ZONE_APPEND ? buf : null;
    bio.nrSegs = bio.buf === null ? 0 : Math.ceil(bio.buf.length / d.limits.maxSegmentSize);
    bio.cpu = cpu;
    bio.cb = cb;
    d.submitBio(bio, this.plugState.depth > 0 ? this.plugState : null);
  }

  private run(op: ReqOp, offset: number, length: number, buf: Uint8Array | null, flags: number): Promise<number> {
    if (this.hipri && (op === REQ_OP.READ || op === REQ_OP.WRITE)) flags |= REQ_FLAG.POLLED;
    const err = this.check(op, offset, length, buf, this.cpu, flags);
    if (err !== null) return Promise.reject(this.argError(err));
    return new Promise((resolve, reject) => {
      this.queue(op, offset, length, buf, flags, this.cpu, (st, result) => {
        if (st === BLK_STS.OK) resolve(result);
        else reject(new BlockError(st, undefined));
      });
    });
  }

  private argError(err: string): BlockError {
    const st = BlockDeviceImpl.statusFor(err);
    return new BlockError(st, `${this.disk.name}: ${err}`, st === BLK_STS.INVAL ? 'BLK_EINVAL_ARG' : undefined);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    // Validate the range before allocating: a length beyond the disk must be a
    // BlockError, not a RangeError from the typed-array constructor.
    const err = this.check(REQ_OP.READ, offset, length, null, this.cpu, 0);
    if (err !== null) throw this.argError(err);
    const buf = new Uint8Array(length);
    await this.run(REQ_OP.READ, offset, length, buf, 0);
    return buf;
  }
  async readInto(offset: number, buf: Uint8Array): Promise<void> {
    if (!(buf instanceof Uint8Array)) throw new BlockError(BLK_STS.INVAL, 'readInto needs a Uint8Array', 'BLK_EINVAL_ARG');
    await this.run(REQ_OP.READ, offset, buf.length, buf, 0);
  }
  async write(offset: number, data: Uint8Array, opts?: { fua?: boolean; preflush?: boolean }): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new BlockError(BLK_STS.INVAL, 'write needs a Uint8Array', 'BLK_EINVAL_ARG');
    const flags = (opts?.fua === true ? REQ_FLAG.FUA : 0) | (opts?.preflush === true ? REQ_FLAG.PREFLUSH : 0);
    await this.run(REQ_OP.WRITE, offset, data.length, data, flags);
  }
  async flush(): Promise<void> { await this.run(REQ_OP.FLUSH, 0, 0, null, 0); }
  async discard(offset: number, length: number): Promise<void> { await this.run(REQ_OP.DISCARD, offset, length, null, 0); }
  async writeZeroes(offset: number, length: number, opts?: { noUnmap?: boolean }): Promise<void> {
    await this.run(REQ_OP.WRITE_ZEROES, offset, length, null, opts?.noUnmap === true ? REQ_FLAG.NOUNMAP : 0);
  }
  async reportZones(offset = 0, nrZones = Number.MAX_SAFE_INTEGER): Promise<ZoneInfo[]> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % 512 !== 0) throw new BlockError(BLK_STS.INVAL, `bad offset ${offset}`, 'BLK_EINVAL_ARG');
    return this.disk.reportZones(offset / 512, nrZones);
  }
  async zoneOp(op: ReqOp, sector: number): Promise<void> {
    if (!ZONE_MGMT.has(op)) throw new BlockError(BLK_STS.INVAL, `op ${op} is not a zone management op`, 'BLK_EINVAL_ARG');
    await this.run(op, sector * 512, 0, null, 0);
  }
  async zoneAppend(sector: number, data: Uint8Array): Promise<number> {
    return this.run(REQ_OP.ZONE_APPEND, sector * 512, data.length, data, 0);
  }

  plug(): void { this.plugState.depth++; }
  unplug(): void {
    if (this.plugState.depth === 0) return;
    if (--this.plugState.depth === 0) this.disk.flushPlug(this.plugState);
  }
  close(): void {
    if (this.closed) return;
    this.plugState.depth = 0;
    this.disk.flushPlug(this.plugState);
    this.disk.plugs.delete(this.plugState);
    this.closed = true;
  }
}
