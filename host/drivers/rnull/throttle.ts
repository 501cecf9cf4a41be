// Bandwidth throttle after null_blk's `mbps` (drivers/block/null_blk/main.c
// nullb_setup_bwtimer / nullb_bwtimer_fn / null_handle_throttled): a timer
// ticks 50 times a second and refills a byte budget of mbps MiB / 50. Each
// request subtracts its size; when the budget goes negative the driver stops
// the device's hardware queues and answers BLK_STS_DEV_RESOURCE (the block
// layer keeps the request); the next tick refills the budget and restarts the
// stopped queues. A tick that finds the budget untouched stops the timer; the
// next request re-arms it.
//
// One deliberate difference: null_blk subtracts a refused request's bytes and
// resets the budget each tick, so a request bigger than one tick's budget
// (a merged request at low mbps) is refused forever. Here a refused request
// is not charged, a full budget always admits the next request (going into
// debt), and each tick adds one budget (capped at one tick's worth), so the
// long-run rate is the same and nothing can stall.

/** null_blk's TICKS_PER_SEC. */
export const TICKS_PER_SEC = 50;
export const TIMER_INTERVAL_MS = 1000 / TICKS_PER_SEC;

/** mb_per_tick(): bytes of budget per tick. */
export function mbPerTick(mbps: number): number {
  return Math.floor((1 << 20) / TICKS_PER_SEC) * mbps;
}

/** Timer service (injectable so tests step time by hand). */
export interface TimerSource {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const nodeTimers: TimerSource = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** What the throttle needs from its device. */
export interface ThrottleTarget {
  /** blk_mq_stop_hw_queues. */
  stopHwQueues(): void;
  /** blk_mq_start_stopped_hw_queues(q, true). */
  startStoppedHwQueues(): void;
}

export class Throttle {
  private curBytes: number;
  private readonly perTick: number;
  private timer: unknown = undefined;
  private readonly onTick = (): void => this.tick();
  /** Times the budget ran out (reporting). */
  throttled = 0;
  ticks = 0;

  constructor(
    readonly mbps: number,
    private readonly target: ThrottleTarget,
    private readonly timers: TimerSource = nodeTimers,
  ) {
    this.perTick = mbPerTick(mbps);
    this.curBytes = this.perTick;
    this.arm();
  }

  get budget(): number {
    return this.curBytes;
  }

  get timerActive(): boolean {
    return this.timer !== undefined;
  }

  private arm(): void {
    this.timer = this.timers.setTimeout(this.onTick, TIMER_INTERVAL_MS);
  }

  /** nullb_bwtimer_fn. */
  private tick(): void {
    this.timer = undefined;
    this.ticks++;
    // Nothing consumed since the last refill: let the timer lapse.
    if (this.curBytes === this.perTick) return;
    this.curBytes = Math.min(this.perTick, this.curBytes + this.perTick);
    this.target.startStoppedHwQueues();
    this.arm();
  }

  /**
   * null_handle_throttled: charge `bytes`; false = over budget, the queues
   * were stopped and the request must be answered with DEV_RESOURCE.
   */
  charge(bytes: number): boolean {
    if (this.timer === undefined) this.arm();
    if (this.curBytes - bytes < 0 && this.curBytes < this.perTick) {
      this.throttled++;
      this.target.stopHwQueues();
      return false;
    }
    this.curBytes -= bytes;
    return true;
  }

  /** null_del_dev: stop ticking, lift the limit and restart queues. */
  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.curBytes = Number.MAX_SAFE_INTEGER;
    this.target.startStoppedHwQueues();
  }
}
