// Errors of the fio-compatible runner. A configuration error always names the
// option and where it came from (file:line or the command-line argument), the
// way fio itself answers a bad job file.

/** Where an option came from: a job file line, or a command-line argument. */
export interface OptionSource {
  /** Job file path, or "<cmdline>" for command-line options. */
  readonly file: string;
  /** 1-based line number in the job file; for the command line, the argv index + 1. */
  readonly line: number;
}

export class FioConfigError extends Error {
  override readonly name: string = 'FioConfigError';
  /** The option (or section) at fault, e.g. "bs"; '' when the error is about the line itself. */
  readonly option: string;
  readonly source: OptionSource | undefined;

  constructor(message: string, option: string, source?: OptionSource) {
    super(source === undefined ? message : `${formatSource(source)}: ${message}`);
    this.option = option;
    this.source = source;
  }
}

export function formatSource(s: OptionSource): string {
  return s.file === '<cmdline>' ? `command line argument ${s.line}` : `${s.file}:${s.line}`;
}

/** A failure while running jobs (device missing, I/O error with fatal semantics). */
export class FioRunError extends Error {
  override readonly name: string = 'FioRunError';
}
