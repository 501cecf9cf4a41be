// Zoned rnull, after drivers/block/null_blk/zoned.c: conventional zones first,
// then sequential-write-required zones with a write pointer; implicit and
// explicit open, close, finish, reset, reset-all; zone append returning the
// written sector; open/active resource limits (ZBC "manage open zone
// resources" plus ZNS max active). One function per zone verb, each switching
// on the zone's current condition.
//
// Block statuses are the block layer's BLK_STS values.

import { BLK_STS, type BlkStatus } from '../../block/types.ts';

const ZSTS = BLK_STS;
export type ZoneStatus = BlkStatus;

/** enum blk_zone_type. */
export const BLK_ZONE_TYPE = { CONVENTIONAL: 1, SEQWRITE_REQ: 2 } as const;
/** enum blk_zone_cond. */
export const BLK_ZONE_COND = {
  NOT_WP: 0x0,
  EMPTY: 0x1,
  IMP_OPEN: 0x2,
  EXP_OPEN: 0x3,
  CLOSED: 0x4,
  READONLY: 0xd,
  FULL: 0xe,
  OFFLINE: 0xf,
} as const;
export type ZoneCond = (typeof BLK_ZONE_COND)[keyof typeof BLK_ZONE_COND];
export type ZoneType = (typeof BLK_ZONE_TYPE)[keyof typeof BLK_ZONE_TYPE];

export const ZONE_COND_NAME: Readonly<Record<number, string>> = {
  0x0: 'NOT_WP', 0x1: 'EMPTY', 0x2: 'IMP_OPEN', 0x3: 'EXP_OPEN', 0x4: 'CLOSED', 0xd: 'READONLY', 0xe: 'FULL', 0xf: 'OFFLINE',
};

/** Zone management verbs (REQ_OP_ZONE_*). */
export type ZoneMgmtOp = 'reset' | 'reset_all' | 'open' | 'close' | 'finish';

/** struct blk_zone as reported. All positions in 512-byte sectors. */
export interface BlkZone {
  start: number;
  len: number;
  wp: number;
  type: ZoneType;
  cond: ZoneCond;
  capacity: number;
}

interface Zone {
  readonly start: number;
  readonly len: number;
  readonly capacity: number;
  readonly type: ZoneType;
  wp: number;
  cond: ZoneCond;
}

/** Zoned configuration in null_blk units (MiB). */
export interface ZonedConfig {
  sizeMiB: number;
  zoneSizeMiB: number;
  /** 0 = zone size. */
  zoneCapacityMiB: number;
  zoneNrConv: number;
  zoneMaxOpen: number;
  zoneMaxActive: number;
  zoneFull?: boolean;
}

/** Called by `write()` once the zone accepts the write: do the data part. */
export interface ZoneWriteProcessor {
  processZoneWrite(sector: number, nrSectors: number): BlkStatus;
}

const MIB_SECTORS = (1024 * 1024) >> 9;

export class ZoneConfigError extends Error {
  readonly code = 'EINVAL';
}

export class ZonedDevice {
  readonly zoneSizeSects: number;
  readonly nrZones: number;
  readonly zoneNrConv: number;
  readonly zoneMaxOpen: number;
  readonly zoneMaxActive: number;
  readonly capacitySects: number;
  /** Adjustments made at setup (null_blk's pr_info lines). */
  readonly notes: string[] = [];
  private readonly zones: Zone[] = [];
  private readonly zoneShift: number;
  nrImpOpen = 0;
  nrExpOpen = 0;
  nrClosed = 0;
  private impCloseZoneNo: number;
  /** Sector written by the last successful zone append. */
  lastAppendSector = 0;

  /** null_init_zoned_dev. */
  constructor(cfg: ZonedConfig) {
    const isPow2 = (n: number): boolean => n > 0 && Number.isInteger(Math.log2(n));
    if (!isPow2(cfg.zoneSizeMiB)) throw new ZoneConfigError('zone_size must be power-of-two');
    if (cfg.zoneSizeMiB > cfg.sizeMiB) throw new ZoneConfigError('Zone size larger than device capacity');
    const capMiB = cfg.zoneCapacityMiB || cfg.zoneSizeMiB;
    if (capMiB > cfg.zoneSizeMiB) throw new ZoneConfigError(`zone capacity (${capMiB} MB) larger than zone size (${cfg.zoneSizeMiB} MB)`);

    const zoneCapSects = capMiB * MIB_SECTORS;
    this.capacitySects = cfg.sizeMiB * MIB_SECTORS;
    this.zoneSizeSects = cfg.zoneSizeMiB * MIB_SECTORS;
    this.zoneShift = Math.log2(this.zoneSizeSects);
    this.nrZones = Math.ceil(this.capacitySects / this.zoneSizeSects);

    let nrConv = cfg.zoneNrConv;
    if (nrConv >= this.nrZones) {
      nrConv = this.nrZones - 1;
      this.notes.push(`changed the number of conventional zones to ${nrConv}`);
    }
    const nrSeq = this.nrZones - nrConv;
    // Max active has to be < the number of sequential zones to be enforceable.
    let maxActive = cfg.zoneMaxActive;
    if (maxActive >= nrSeq) {
      maxActive = 0;
      this.notes.push('zone_max_active limit disabled, limit >= zone count');
    }
    // Max open has to be <= max active.
    let maxOpen = cfg.zoneMaxOpen;
    if (maxActive && maxOpen > maxActive) {
      maxOpen = maxActive;
      this.notes.push(`changed the maximum number of open zones to ${maxOpen}`);
    } else if (maxOpen >= nrSeq) {
      maxOpen = 0;
      this.notes.push('zone_max_open limit disabled, limit >= zone count');
    }
    this.zoneNrConv = nrConv;
    this.zoneMaxActive = maxActive;
    this.zoneMaxOpen = maxOpen;
    this.impCloseZoneNo = nrConv;

    let sector = 0;
    for (let i = 0; i < this.nrZones; i++) {
      if (i < nrConv) {
        this.zones.push({ start: sector, len: this.zoneSizeSects, capacity: this.zoneSizeSects, type: BLK_ZONE_TYPE.CONVENTIONAL, wp: sector + this.zoneSizeSects, cond: BLK_ZONE_COND.NOT_WP });
      } else {
        // The last zone may be a runt.
        const len = sector + this.zoneSizeSects > this.capacitySects ? this.capacitySects - sector : this.zoneSizeSects;
        const capacity = Math.min(len, zoneCapSects);
        // zone_full: FULL with the write pointer at the zone's capacity (null_init_zoned_dev).
        const full = cfg.zoneFull === true;
        this.zones.push({ start: sector, len, capacity, type: BLK_ZONE_TYPE.SEQWRITE_REQ, wp: full ? sector + capacity : sector, cond: full ? BLK_ZONE_COND.FULL : BLK_ZONE_COND.EMPTY });
      }
      sector += this.zoneSizeSects;
    }
  }

  zoneNo(sector: number): number {
    return Math.floor(sector / 2 ** this.zoneShift);
  }

  /** Condition of the zone holding `sector` (tests, CLI). */
  condAt(sector: number): ZoneCond | undefined {
    return this.zones[this.zoneNo(sector)]?.cond;
  }

  /** null_report_zones: up to `nrZones` zones from the one holding `sector`. */
  report(sector: number, nrZones: number = this.nrZones): BlkZone[] {
    const first = this.zoneNo(sector);
    const out: BlkZone[] = [];
    for (let i = first; i < this.nrZones && out.length < nrZones; i++) {
      const z = this.zones[i];
      if (z) out.push({ start: z.start, len: z.len, wp: z.wp, type: z.type, cond: z.cond, capacity: z.capacity });
    }
    return out;
  }

  /**
   * null_zone_valid_read_len: sectors readable before the write pointer.
   * Sectors past it read as 0xff.
   */
  validReadSectors(sector: number, nrSectors: number): number {
    const z = this.zones[this.zoneNo(sector)];
    if (!z || z.type === BLK_ZONE_TYPE.CONVENTIONAL || sector + nrSectors <= z.wp) return nrSectors;
    if (sector > z.wp) return 0;
    return z.wp - sector;
  }

  /** Reads (and other non-write ops) on an OFFLINE zone fail with IOERR. */
  checkRead(sector: number): ZoneStatus {
    const z = this.zones[this.zoneNo(sector)];
    return z && z.cond === BLK_ZONE_COND.OFFLINE ? ZSTS.IOERR : ZSTS.OK;
  }

  // -- resources ------------------------------------------------------------------

  private closeImplicit(z: Zone): ZoneStatus {
    // __null_close_zone
    switch (z.cond) {
      case BLK_ZONE_COND.CLOSED:
        return ZSTS.OK; // close on closed is not an error
      case BLK_ZONE_COND.IMP_OPEN:
        this.nrImpOpen--;
        break;
      case BLK_ZONE_COND.EXP_OPEN:
        this.nrExpOpen--;
        break;
      default:
        return ZSTS.IOERR;
    }
    if (z.wp === z.start) z.cond = BLK_ZONE_COND.EMPTY;
    else {
      z.cond = BLK_ZONE_COND.CLOSED;
      this.nrClosed++;
    }
    return ZSTS.OK;
  }

  /** null_close_imp_open_zone: close one implicitly open zone, round-robin. */
  private closeOneImpOpen(): void {
    let zno = this.impCloseZoneNo;
    if (zno >= this.nrZones) zno = this.zoneNrConv;
    for (let i = this.zoneNrConv; i < this.nrZones; i++) {
      const z = this.zones[zno];
      zno++;
      if (zno >= this.nrZones) zno = this.zoneNrConv;
      if (z && z.cond === BLK_ZONE_COND.IMP_OPEN) {
        this.closeImplicit(z);
        this.impCloseZoneNo = zno;
        return;
      }
    }
  }

  private checkActive(): ZoneStatus {
    if (!this.zoneMaxActive) return ZSTS.OK;
    if (this.nrExpOpen + this.nrImpOpen + this.nrClosed < this.zoneMaxActive) return ZSTS.OK;
    return ZSTS.ZONE_ACTIVE_RESOURCE;
  }

  private checkOpen(): ZoneStatus {
    if (!this.zoneMaxOpen) return ZSTS.OK;
    if (this.nrExpOpen + this.nrImpOpen < this.zoneMaxOpen) return ZSTS.OK;
    if (this.nrImpOpen && this.checkActive() === ZSTS.OK) {
      this.closeOneImpOpen();
      return ZSTS.OK;
    }
    return ZSTS.ZONE_OPEN_RESOURCE;
  }

  /** null_check_zone_resources: may this EMPTY/CLOSED zone become open? */
  private checkResources(z: Zone): ZoneStatus {
    switch (z.cond) {
      case BLK_ZONE_COND.EMPTY: {
        const st = this.checkActive();
        if (st !== ZSTS.OK) return st;
        return this.checkOpen();
      }
      case BLK_ZONE_COND.CLOSED:
        return this.checkOpen();
      default:
        return ZSTS.IOERR;
    }
  }

  // -- verbs ------------------------------------------------------------------------

  /**
   * null_zone_write: a regular write must start at the write pointer; an
   * append is placed at it (the sector is left in `lastAppendSector`). The
   * zone opens implicitly; `proc` moves the data; reaching capacity → FULL.
   */
  write(sector: number, nrSectors: number, append: boolean, proc: ZoneWriteProcessor): BlkStatus {
    const z = this.zones[this.zoneNo(sector)];
    if (!z) return ZSTS.IOERR;
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) {
      if (append) return ZSTS.IOERR;
      return proc.processZoneWrite(sector, nrSectors);
    }
    if (z.cond === BLK_ZONE_COND.FULL || z.cond === BLK_ZONE_COND.READONLY || z.cond === BLK_ZONE_COND.OFFLINE) return ZSTS.IOERR;
    let at = sector;
    if (append) at = z.wp;
    else if (sector !== z.wp) return ZSTS.IOERR;
    if (z.wp + nrSectors > z.start + z.capacity) return ZSTS.IOERR;

    if (z.cond === BLK_ZONE_COND.CLOSED || z.cond === BLK_ZONE_COND.EMPTY) {
      const st = this.release(z);
      if (st !== ZSTS.OK) return st;
      this.nrImpOpen++;
      z.cond = BLK_ZONE_COND.IMP_OPEN;
    }
    const st = proc.processZoneWrite(at, nrSectors);
    if (st !== ZSTS.OK) return st;
    if (append) this.lastAppendSector = at;
    z.wp += nrSectors;
    if (z.wp === z.start + z.capacity) {
      if (z.cond === BLK_ZONE_COND.EXP_OPEN) this.nrExpOpen--;
      else if (z.cond === BLK_ZONE_COND.IMP_OPEN) this.nrImpOpen--;
      z.cond = BLK_ZONE_COND.FULL;
    }
    return ZSTS.OK;
  }

  /**
   * Take a zone out of its open/closed accounting before it changes
   * condition. EMPTY and CLOSED zones need the open/active resources first
   * (null_check_zone_resources); other conditions can't change this way.
   */
  private release(z: Zone): ZoneStatus {
    switch (z.cond) {
      case BLK_ZONE_COND.EMPTY:
        return this.checkResources(z);
      case BLK_ZONE_COND.IMP_OPEN:
        this.nrImpOpen--;
        return ZSTS.OK;
      case BLK_ZONE_COND.EXP_OPEN:
        this.nrExpOpen--;
        return ZSTS.OK;
      case BLK_ZONE_COND.CLOSED: {
        const st = this.checkResources(z);
        if (st === ZSTS.OK) this.nrClosed--;
        return st;
      }
      default:
        return ZSTS.IOERR;
    }
  }

  /** null_open_zone. */
  private open(z: Zone): ZoneStatus {
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) return ZSTS.IOERR;
    if (z.cond === BLK_ZONE_COND.EXP_OPEN) return ZSTS.OK; // open on explicitly open is not an error
    const st = this.release(z);
    if (st !== ZSTS.OK) return st;
    z.cond = BLK_ZONE_COND.EXP_OPEN;
    this.nrExpOpen++;
    return ZSTS.OK;
  }

  /** null_close_zone. */
  private close(z: Zone): ZoneStatus {
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) return ZSTS.IOERR;
    return this.closeImplicit(z);
  }

  /** null_finish_zone. */
  private finish(z: Zone): ZoneStatus {
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) return ZSTS.IOERR;
    if (z.cond === BLK_ZONE_COND.FULL) return ZSTS.OK; // finish on full is not an error
    const st = this.release(z);
    if (st !== ZSTS.OK) return st;
    z.cond = BLK_ZONE_COND.FULL;
    z.wp = z.start + z.len;
    return ZSTS.OK;
  }

  /** null_reset_zone; `onReset` frees the zone's data when memory backed. */
  private reset(z: Zone, onReset?: (start: number, len: number) => void): ZoneStatus {
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) return ZSTS.IOERR;
    switch (z.cond) {
      case BLK_ZONE_COND.EMPTY:
        return ZSTS.OK; // reset on empty is not an error
      case BLK_ZONE_COND.IMP_OPEN:
        this.nrImpOpen--;
        break;
      case BLK_ZONE_COND.EXP_OPEN:
        this.nrExpOpen--;
        break;
      case BLK_ZONE_COND.CLOSED:
        this.nrClosed--;
        break;
      case BLK_ZONE_COND.FULL:
        break;
      default:
        return ZSTS.IOERR;
    }
    z.cond = BLK_ZONE_COND.EMPTY;
    z.wp = z.start;
    onReset?.(z.start, z.len);
    return ZSTS.OK;
  }

  /** null_zone_mgmt: one verb on the zone holding `sector` (or all zones). */
  mgmt(op: ZoneMgmtOp, sector: number, onReset?: (start: number, len: number) => void): ZoneStatus {
    if (op === 'reset_all') {
      for (let i = this.zoneNrConv; i < this.nrZones; i++) {
        const z = this.zones[i];
        if (z && z.cond !== BLK_ZONE_COND.EMPTY && z.cond !== BLK_ZONE_COND.READONLY && z.cond !== BLK_ZONE_COND.OFFLINE) this.reset(z, onReset);
      }
      return ZSTS.OK;
    }
    const z = this.zones[this.zoneNo(sector)];
    if (!z) return ZSTS.IOERR;
    if (z.cond === BLK_ZONE_COND.READONLY || z.cond === BLK_ZONE_COND.OFFLINE) return ZSTS.IOERR;
    switch (op) {
      case 'reset':
        return this.reset(z, onReset);
      case 'open':
        return this.open(z);
      case 'close':
        return this.close(z);
      case 'finish':
        return this.finish(z);
      default:
        return ZSTS.NOTSUPP;
    }
  }

  /**
   * null_set_zone_cond (configfs zone_readonly / zone_offline): set the
   * condition, or restore EMPTY when the zone already has it.
   */
  setCond(sector: number, cond: typeof BLK_ZONE_COND.READONLY | typeof BLK_ZONE_COND.OFFLINE, onReset?: (start: number, len: number) => void): void {
    const zno = this.zoneNo(sector);
    const z = this.zones[zno];
    if (!z) throw new ZoneConfigError('Sector out of range');
    if (z.type === BLK_ZONE_TYPE.CONVENTIONAL) throw new ZoneConfigError('Can not change condition of conventional zones');
    if (z.cond === cond) {
      z.cond = BLK_ZONE_COND.EMPTY;
      z.wp = z.start;
      onReset?.(z.start, z.len);
    } else {
      if (z.cond !== BLK_ZONE_COND.READONLY && z.cond !== BLK_ZONE_COND.OFFLINE) this.finish(z);
      z.cond = cond;
      z.wp = Number.MAX_SAFE_INTEGER; // (sector_t)-1
    }
  }
}
