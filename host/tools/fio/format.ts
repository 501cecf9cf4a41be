// Number formatting the way fio prints it (lib/num2str.c behaviour): at most
// `maxlen` significant digits, then a unit prefix; decimals only when they fit.

const PREFIX = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/**
 * num2str: divides by `base` until the integer part has at most `maxlen`
 * digits, then shows as many decimals as still fit. pow2 selects "Ki/Mi"
 * unit names for base 1024. Examples: 52100 → "52.1k", 1073741824 (pow2) → "1024Mi".
 */
export function num2str(num: number, maxlen = 4, base: 1000 | 1024 = 1000, pow2 = false, unit = ''): string {
  if (!Number.isFinite(num) || num < 0) num = 0;
  let n = num;
  let p = 0;
  while (digits(Math.floor(n)) > maxlen && p < PREFIX.length - 1) {
    n /= base;
    p++;
  }
  const intDigits = digits(Math.floor(n));
  let dec = p === 0 ? 0 : maxlen - intDigits - 1;
  if (dec < 0) dec = 0;
  let s = n.toFixed(dec);
  // toFixed may round up into one more digit ("999.95" → "1000.0"): trim decimals.
  if (dec > 0 && s.replace('.', '').length > maxlen) s = n.toFixed(Math.max(0, dec - 1));
  const prefix = PREFIX[p] ?? '';
  const iec = pow2 && p > 0 ? `${prefix === 'k' ? 'K' : prefix}i` : prefix;
  return `${s}${iec}${unit}`;
}

function digits(n: number): number {
  return n < 1 ? 1 : Math.floor(Math.log10(n)) + 1;
}

/** "203MiB/s (213MB/s)" for a bandwidth in bytes/s. */
export function bwPair(bytesPerSec: number): string {
  return `${num2str(bytesPerSec, 4, 1024, true, 'B/s')} (${num2str(bytesPerSec, 4, 1000, false, 'B/s')})`;
}

/** "1024MiB (1074MB)" for a byte count. */
export function sizePair(bytes: number): string {
  return `${num2str(bytes, 4, 1024, true, 'B')} (${num2str(bytes, 4, 1000, false, 'B')})`;
}

/** "00m:11s" / "01h:02m:03s" like fio's eta. */
export function etaStr(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(r).padStart(2, '0');
  return h > 0 ? `${String(h).padStart(2, '0')}h:${mm}m:${ss}s` : `${mm}m:${ss}s`;
}
