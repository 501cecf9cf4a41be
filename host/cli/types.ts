// Shared shapes of the CLI's command table.
import type { FlagSpec, Parsed } from './args.ts';
import type { HostApi } from './api.ts';

/** Minimal writable stream (process.stdout, or a collector in tests). */
export interface Out {
  /** Text, or raw bytes (`nvme get-log -b`): process.stdout takes both. */
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean;
}

export interface Io {
  stdout: Out;
  stderr: Out;
  /** Aborted on SIGINT: long runs (fio, stat) stop early and report. */
  signal?: AbortSignal;
  env: Record<string, string | undefined>;
  /** Reads a local file (job files), default fs. */
  readFile?: (path: string) => string;
}

export interface CommandDef {
  /** 'nvme id-ctrl', 'stat', … */
  name: string;
  summary: string;
  /** Synopsis after `nvmelab `. */
  synopsis: string;
  flags: FlagSpec[];
  /** Positional arguments: allowed count and their names for messages. */
  args: { min: number; max: number; names: string[] };
  /** Extra paragraphs of help. */
  details?: string;
  /** Validates values beyond types (throws UsageError). */
  check?: (p: Parsed) => void;
  /** Runs against a host; returns the exit code. */
  run: (p: Parsed, api: HostApi, io: Io) => Promise<number>;
  /** Takes its own raw argv (fio): no flag parsing by the CLI. */
  rawArgs?: boolean;
}
