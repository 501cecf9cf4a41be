// Get/Set Features (NVMe 1.4 §5.9, §5.15, §5.21.1): a support table checked
// before the FID switch, then one function per direction. Handlers return a
// status (or PENDING) and never throw.
import type { NvmeController } from './controller.ts';
import type { NvmeConfig } from './options.ts';
import type { Req } from './queues.ts';
import { PENDING, complete } from './queues.ts';
import { S, dnr } from '../../src/spec/status.ts';
import {
  FID, FEAT_CDW10, SEL, FEAT_CAP, TEMP_THRESH, ERROR_RECOVERY, NUM_QUEUES, INT_COALESCING, INT_VECTOR_CONFIG,
  ASYNC_EVENT_CONFIG, POWER_MGMT,
} from '../../src/spec/features.ts';
import { NSID_BROADCAST } from '../../src/spec/nvm.ts';
import { AER_TYPE, AER_INFO_SMART } from '../../src/spec/admin.ts';
import { LID } from '../../src/spec/log.ts';
import { TIMESTAMP_SIZE } from '../../src/spec/sizes.ts';
import { mapData, toHost, fromHost } from './dma.ts';
import { put32, u32 } from '../../src/wire/le.ts';
import { MAX_NAMESPACES } from './options.ts';

/** Composite temperature reported in SMART (Kelvin): 35 °C. */
export const COMPOSITE_TEMP_K = 308;
const DEFAULT_OVER_TEMP = 0x157; // 343 K, as QEMU
const DEFAULT_UNDER_TEMP = 0;

interface FeatureInfo {
  nsSpecific: boolean;
  changeable: boolean;
}
/** Supported features (§5.21.1, Figure 271). None is saveable. */
const SUPPORTED: ReadonlyMap<number, FeatureInfo> = new Map([
  [FID.ARBITRATION, { nsSpecific: false, changeable: true }],
  [FID.POWER_MGMT, { nsSpecific: false, changeable: true }],
  [FID.TEMPERATURE_THRESHOLD, { nsSpecific: false, changeable: true }],
  [FID.ERROR_RECOVERY, { nsSpecific: true, changeable: true }],
  [FID.VOLATILE_WRITE_CACHE, { nsSpecific: false, changeable: true }],
  [FID.NUMBER_OF_QUEUES, { nsSpecific: false, changeable: true }],
  [FID.INTERRUPT_COALESCING, { nsSpecific: false, changeable: true }],
  [FID.INTERRUPT_VECTOR_CONFIG, { nsSpecific: false, changeable: true }],
  [FID.WRITE_ATOMICITY, { nsSpecific: false, changeable: true }],
  [FID.ASYNC_EVENT_CONFIG, { nsSpecific: false, changeable: true }],
  [FID.TIMESTAMP, { nsSpecific: false, changeable: true }],
]);

export class FeatureState {
  arbitration = 7; // AB = no limit
  powerState = 0;
  overTemp = DEFAULT_OVER_TEMP;
  underTemp = DEFAULT_UNDER_TEMP;
  /** Interrupt coalescing (08h): THR (0's based) and TIME (100 µs units). */
  coalesce = 0;
  /** Per-vector coalescing disable (09h CD bit). */
  readonly vectorCd: boolean[];
  writeAtomicityDn = 0;
  asyncEventConfig = 0;
  constructor(private readonly cfg: NvmeConfig) {
    this.vectorCd = new Array<boolean>(cfg.msixQsize).fill(false);
  }
  resetVolatile(): void {
    this.arbitration = 7;
    this.powerState = 0;
    this.overTemp = DEFAULT_OVER_TEMP;
    this.underTemp = DEFAULT_UNDER_TEMP;
    this.coalesce = 0;
    this.vectorCd.fill(false);
    this.writeAtomicityDn = 0;
    this.asyncEventConfig = 0;
  }
  coalescingFor(iv: number): { thr: number; timeUs: number } | undefined {
    const time = (this.coalesce >> INT_COALESCING.TIME_SHIFT) & INT_COALESCING.TIME_MASK;
    // §5.21.1.8: an aggregation time of 0 means no delay.
    if (time === 0 || this.vectorCd[iv] === true) return undefined;
    return { thr: this.coalesce & INT_COALESCING.THR_MASK, timeUs: time * INT_COALESCING.TIME_UNIT_US };
  }
  numQueuesDw0(): number {
    const n = this.cfg.maxIoQpairs - 1;
    return (n | (n << NUM_QUEUES.NCQ_SHIFT)) >>> 0;
  }
}

/** Common checks: supported FID, saveable, NSID rules. Returns a status or undefined to proceed. */
function check(c: NvmeController, req: Req, isSet: boolean): number | undefined {
  const fid = req.sqe.cdw10 & FEAT_CDW10.FID_MASK;
  const info = SUPPORTED.get(fid);
  if (info === undefined || (fid === FID.VOLATILE_WRITE_CACHE && !c.cfg.vwc)) return dnr(S.INVALID_FIELD);
  if (isSet && (req.sqe.cdw10 & FEAT_CDW10.SV) !== 0) return dnr(S.FEATURE_NOT_SAVEABLE);
  const nsid = req.sqe.nsid;
  if (info.nsSpecific) {
    if (nsid === NSID_BROADCAST) return undefined;
    if (nsid === 0 || nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
    if (!c.namespaces.has(nsid)) return dnr(S.INVALID_FIELD);
    return undefined;
  }
  if (nsid !== 0 && nsid !== NSID_BROADCAST) {
    if (nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
    if (isSet) return dnr(S.FEATURE_NOT_NS_SPECIFIC);
  }
  return undefined;
}

export function getFeatures(c: NvmeController, req: Req): number {
  const bad = check(c, req, false);
  if (bad !== undefined) return bad;
  const f = c.features;
  const fid = req.sqe.cdw10 & FEAT_CDW10.FID_MASK;
  const sel = (req.sqe.cdw10 >> FEAT_CDW10.SEL_SHIFT) & FEAT_CDW10.SEL_MASK;
  const info = SUPPORTED.get(fid);
  if (sel === SEL.SUPPORTED_CAPS) {
    return ok(c, req, (info?.changeable ? FEAT_CAP.CHANGEABLE : 0) | (info?.nsSpecific ? FEAT_CAP.NS_SPECIFIC : 0));
  }
  if (sel > SEL.SUPPORTED_CAPS) return dnr(S.INVALID_FIELD);
  const dflt = sel !== SEL.CURRENT; // nothing is saveable: saved = default
  switch (fid) {
    case FID.ARBITRATION: return ok(c, req, dflt ? 7 : f.arbitration);
    case FID.POWER_MGMT: return ok(c, req, dflt ? 0 : f.powerState);
    case FID.TEMPERATURE_THRESHOLD: {
      const cdw11 = req.sqe.cdw11;
      const tmpsel = (cdw11 >> TEMP_THRESH.TMPSEL_SHIFT) & TEMP_THRESH.TMPSEL_MASK;
      const thsel = (cdw11 >> TEMP_THRESH.THSEL_SHIFT) & TEMP_THRESH.THSEL_MASK;
      if (tmpsel !== 0 || thsel > 1) return dnr(S.INVALID_FIELD);
      const v = thsel === 0 ? (dflt ? DEFAULT_OVER_TEMP : f.overTemp) : (dflt ? DEFAULT_UNDER_TEMP : f.underTemp);
      return ok(c, req, v);
    }
    case FID.ERROR_RECOVERY: {
      const ns = c.namespaces.get(req.sqe.nsid);
      return ok(c, req, dflt || ns === undefined ? 0 : ns.tler);
    }
    case FID.VOLATILE_WRITE_CACHE: {
      if (dflt) return ok(c, req, 1);
      const any = [...c.namespaces.values()].some((n) => n.data.cache.enabled);
      return ok(c, req, any ? 1 : 0);
    }
    case FID.NUMBER_OF_QUEUES: return ok(c, req, f.numQueuesDw0());
    case FID.INTERRUPT_COALESCING: return ok(c, req, dflt ? 0 : f.coalesce);
    case FID.INTERRUPT_VECTOR_CONFIG: {
      const iv = req.sqe.cdw11 & INT_VECTOR_CONFIG.IV_MASK;
      if (iv >= c.cfg.msixQsize) return dnr(S.INVALID_FIELD);
      return ok(c, req, iv | (!dflt && f.vectorCd[iv] === true ? INT_VECTOR_CONFIG.CD : 0));
    }
    case FID.WRITE_ATOMICITY: return ok(c, req, dflt ? 0 : f.writeAtomicityDn);
    case FID.ASYNC_EVENT_CONFIG: return ok(c, req, dflt ? 0 : f.asyncEventConfig);
    case FID.TIMESTAMP: {
      const b = new Uint8Array(TIMESTAMP_SIZE);
      const ts = c.timestamp;
      const now = ts.hostMs + Math.floor(performance.now() - ts.setAt);
      put32(b, 0, now % 0x1_0000_0000);
      b[4] = Math.floor(now / 0x1_0000_0000) & 0xff;
      b[5] = Math.floor(now / 0x1_0000_0000_00) & 0xff;
      b[6] = (ts.origin & 7) << 1; // Synch=0, Timestamp Origin
      return transferOut(c, req, b, 0);
    }
    default: return dnr(S.INVALID_FIELD);
  }
}

export function setFeatures(c: NvmeController, req: Req): number {
  const bad = check(c, req, true);
  if (bad !== undefined) return bad;
  const f = c.features;
  const fid = req.sqe.cdw10 & FEAT_CDW10.FID_MASK;
  const v = req.sqe.cdw11;
  switch (fid) {
    case FID.ARBITRATION: f.arbitration = v >>> 0; return S.SUCCESS;
    case FID.POWER_MGMT:
      if ((v & POWER_MGMT.PS_MASK) !== 0) return dnr(S.INVALID_FIELD); // NPSS = 0: only power state 0
      f.powerState = v & 0xff;
      return S.SUCCESS;
    case FID.TEMPERATURE_THRESHOLD: {
      const tmpsel = (v >> TEMP_THRESH.TMPSEL_SHIFT) & TEMP_THRESH.TMPSEL_MASK;
      const thsel = (v >> TEMP_THRESH.THSEL_SHIFT) & TEMP_THRESH.THSEL_MASK;
      if (tmpsel !== 0 || thsel > 1) return dnr(S.INVALID_FIELD);
      const t = v & TEMP_THRESH.TMPTH_MASK;
      if (thsel === 0) f.overTemp = t;
      else f.underTemp = t;
      // §5.14.1.2: crossing a threshold sets the temperature critical warning and, if enabled, an AEN.
      if ((COMPOSITE_TEMP_K > f.overTemp || COMPOSITE_TEMP_K < f.underTemp) && (f.asyncEventConfig & 0x2) !== 0) {
        c.aer.enqueue(AER_TYPE.SMART, AER_INFO_SMART.TEMPERATURE, LID.SMART);
      }
      return S.SUCCESS;
    }
    case FID.ERROR_RECOVERY: {
      if ((v & ERROR_RECOVERY.DULBE) !== 0) return dnr(S.INVALID_FIELD); // NSFEAT.DAE = 0
      const tler = v & ERROR_RECOVERY.TLER_MASK;
      for (const ns of c.namespaces.values()) if (req.sqe.nsid === NSID_BROADCAST || ns.nsid === req.sqe.nsid) ns.tler = tler;
      return S.SUCCESS;
    }
    case FID.VOLATILE_WRITE_CACHE: {
      const wce = (v & 1) === 1;
      if (wce) {
        for (const ns of c.namespaces.values()) ns.data.cache.enabled = true;
        return S.SUCCESS;
      }
      // Disabling the cache writes it back first.
      c.flushAll().then(
        () => {
          for (const ns of c.namespaces.values()) ns.data.cache.enabled = false;
          complete(c, req, S.SUCCESS);
        },
        () => complete(c, req, S.INTERNAL_ERROR),
      );
      return PENDING;
    }
    case FID.NUMBER_OF_QUEUES: {
      // §5.21.1.7: after an I/O queue was created, Set Number of Queues is a Command Sequence Error.
      if (c.ioQueuesCreated) return dnr(S.COMMAND_SEQUENCE_ERROR);
      if ((v & NUM_QUEUES.NSQ_MASK) === 0xffff || v >>> NUM_QUEUES.NCQ_SHIFT === 0xffff) return dnr(S.INVALID_FIELD);
      return ok(c, req, f.numQueuesDw0());
    }
    case FID.INTERRUPT_COALESCING: f.coalesce = v & 0xffff; return S.SUCCESS;
    case FID.INTERRUPT_VECTOR_CONFIG: {
      const iv = v & INT_VECTOR_CONFIG.IV_MASK;
      if (iv >= c.cfg.msixQsize) return dnr(S.INVALID_FIELD);
      // §5.21.1.9: coalescing cannot be enabled for the admin vector 0.
      if (iv === 0 && (v & INT_VECTOR_CONFIG.CD) === 0) return dnr(S.INVALID_FIELD);
      f.vectorCd[iv] = (v & INT_VECTOR_CONFIG.CD) !== 0;
      return S.SUCCESS;
    }
    case FID.WRITE_ATOMICITY: f.writeAtomicityDn = v & 1; return S.SUCCESS;
    case FID.ASYNC_EVENT_CONFIG:
      f.asyncEventConfig = v & (ASYNC_EVENT_CONFIG.SMART_MASK | ASYNC_EVENT_CONFIG.NS_ATTR);
      return S.SUCCESS;
    case FID.TIMESTAMP: {
      const b = new Uint8Array(TIMESTAMP_SIZE);
      mapData(c, req, TIMESTAMP_SIZE, false, (st) => {
        if (st !== S.SUCCESS) return complete(c, req, st);
        fromHost(c, req, b, (st2) => {
          if (st2 !== S.SUCCESS) return complete(c, req, st2);
          const ms = u32(b, 0) + ((b[4] ?? 0) + (b[5] ?? 0) * 256) * 0x1_0000_0000;
          c.timestamp = { hostMs: ms, setAt: performance.now(), origin: 1 };
          complete(c, req, S.SUCCESS);
        });
      });
      return PENDING;
    }
    default: return dnr(S.INVALID_FIELD);
  }
}

function ok(c: NvmeController, req: Req, dw0: number): number {
  complete(c, req, S.SUCCESS, dw0 >>> 0);
  return PENDING;
}

/** Map the data pointer and write `data` to the host, then complete with dw0. */
export function transferOut(c: NvmeController, req: Req, data: Uint8Array, dw0: number): number {
  mapData(c, req, data.length, false, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    complete(c, req, toHost(c, req, data), dw0);
  });
  return PENDING;
}
