// Controller state as ONE transition function, after Linux core.c
// nvme_change_ctrl_state(): switch on the target state, then list the states
// it may be entered from. Returns whether the state changed and logs
// `from -> to`.
import type { Logger } from '../../../src/util/log.ts';

export const CTRL_STATE = {
  NEW: 0,
  LIVE: 1,
  RESETTING: 2,
  CONNECTING: 3,
  DELETING: 4,
  DEAD: 5,
} as const;
export type CtrlStateValue = (typeof CTRL_STATE)[keyof typeof CTRL_STATE];

/** nvme_ctrl_state_names[] (the sysfs `state` attribute). */
export const CTRL_STATE_NAME: Readonly<Record<CtrlStateValue, string>> = {
  0: 'new', 1: 'live', 2: 'resetting', 3: 'connecting', 4: 'deleting', 5: 'dead',
};

/** Allowed source states per target (nvme_change_ctrl_state's nested switch). */
const ALLOWED_FROM: Readonly<Record<CtrlStateValue, readonly CtrlStateValue[]>> = {
  [CTRL_STATE.NEW]: [],
  [CTRL_STATE.LIVE]: [CTRL_STATE.NEW, CTRL_STATE.RESETTING, CTRL_STATE.CONNECTING],
  [CTRL_STATE.RESETTING]: [CTRL_STATE.NEW, CTRL_STATE.LIVE],
  [CTRL_STATE.CONNECTING]: [CTRL_STATE.NEW, CTRL_STATE.RESETTING],
  [CTRL_STATE.DELETING]: [CTRL_STATE.LIVE, CTRL_STATE.RESETTING, CTRL_STATE.CONNECTING, CTRL_STATE.NEW],
  [CTRL_STATE.DEAD]: [CTRL_STATE.DELETING],
};

export class CtrlState {
  private cur: CtrlStateValue = CTRL_STATE.NEW;
  /** Every change, oldest first (for tests and `nvme list`-style tools). */
  readonly history: string[] = [];
  constructor(private readonly name: string, private readonly log: Logger) {}

  get value(): CtrlStateValue { return this.cur; }
  get label(): string { return CTRL_STATE_NAME[this.cur]; }

  /** The one transition function. False (and nothing changes) when `to` may not follow the current state. */
  change(to: CtrlStateValue): boolean {
    const from = this.cur;
    if (!ALLOWED_FROM[to].includes(from)) {
      if (from !== to) this.log.debug(`${this.name}: refused state change ${CTRL_STATE_NAME[from]} -> ${CTRL_STATE_NAME[to]}`);
      return false;
    }
    this.cur = to;
    const line = `${CTRL_STATE_NAME[from]} -> ${CTRL_STATE_NAME[to]}`;
    this.history.push(line);
    this.log.info(`${this.name}: ${line}`);
    return true;
  }

  /** nvme_state_terminal(): deleting or dead — no more I/O will succeed. */
  get terminal(): boolean { return this.cur === CTRL_STATE.DELETING || this.cur === CTRL_STATE.DEAD; }
}
