// Strictness scan: no `any` and no non-null assertions (`x!`) in the product
// code (src/, device/, host/, fixtures/). The compiler cannot forbid either,
// so this reads the source: a small lexer blanks out comments, strings,
// template text and regex literals (keeping offsets and newlines), then
// patterns run over what is left, which is code only.
//
//   node --import tsx scripts/check-strict.ts [dir …]   (exit 1 on findings)
//
// Kinds reported:
//   non-null     `expr!` used as an expression (x!.y, x!), x![i], f()!, …)
//   definite     `name!: T` definite-assignment assertion on a field/let
//   any          `any` used as a type; `exported` when it is in a top-level
//                `export` declaration (part of a module's API)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type FindingKind = 'non-null' | 'definite' | 'any';

export interface Finding {
  file: string;
  line: number;
  kind: FindingKind;
  /** For `any`: inside a top-level export declaration. */
  exported: boolean;
  /** The source line, trimmed. */
  text: string;
}

/** Keywords after which `/` starts a regex and `!` is a prefix operator. */
const KEYWORDS_BEFORE_EXPR = new Set(['return', 'typeof', 'case', 'in', 'of', 'delete', 'void', 'throw', 'new', 'else', 'do', 'yield', 'await', 'instanceof']);

/**
 * Blank out comments, string/template text and regex literals with spaces
 * (newlines kept), so the result has the same length and line structure as
 * `src` and contains only code. `${…}` inside templates stays code.
 */
export function codeOnly(src: string): string {
  const out = src.split('');
  const n = src.length;
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to && k < n; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  /** Brace depth of each open `${` (to know when a `}` closes it and resumes the template). */
  const templateStack: number[] = [];
  let braceDepth = 0;
  let i = 0;
  let lastSignificant = ''; // last code character that is not white space
  let lastWord = '';

  const scanTemplate = (start: number): number => {
    // start is just after '`' or '}' closing a substitution; returns the index after the template part.
    let k = start;
    while (k < n) {
      const c = src[k];
      if (c === '\\') { k += 2; continue; }
      if (c === '`') { blank(start, k); return k + 1; }
      if (c === '$' && src[k + 1] === '{') {
        blank(start, k);
        templateStack.push(braceDepth);
        braceDepth++;
        return k + 2;
      }
      k++;
    }
    blank(start, n);
    return n;
  };

  while (i < n) {
    const c = src[i] ?? '';
    const d = src[i + 1] ?? '';
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < n && src[k] !== c && src[k] !== '\n') k += src[k] === '\\' ? 2 : 1;
      blank(i + 1, k);
      i = k + 1;
      lastSignificant = c;
      lastWord = '';
      continue;
    }
    if (c === '`') {
      i = scanTemplate(i + 1);
      lastSignificant = '`';
      lastWord = '';
      continue;
    }
    if (c === '/') {
      const regexStart = lastSignificant === '' || '(,=:[!&|?{};+-*%<>~^'.includes(lastSignificant) || KEYWORDS_BEFORE_EXPR.has(lastWord);
      if (regexStart) {
        let k = i + 1;
        let inClass = false;
        while (k < n && src[k] !== '\n') {
          const r = src[k];
          if (r === '\\') { k += 2; continue; }
          if (r === '[') inClass = true;
          else if (r === ']') inClass = false;
          else if (r === '/' && !inClass) break;
          k++;
        }
        blank(i + 1, k);
        i = k + 1;
        lastSignificant = '/';
        lastWord = '';
        continue;
      }
    }
    if (c === '{') braceDepth++;
    if (c === '}') {
      braceDepth--;
      if (templateStack.length > 0 && templateStack[templateStack.length - 1] === braceDepth) {
        templateStack.pop();
        i = scanTemplate(i + 1);
        lastSignificant = '`';
        lastWord = '';
        continue;
      }
    }
    if (/[A-Za-z0-9_$]/.test(c)) {
      let k = i;
      while (k < n && /[A-Za-z0-9_$]/.test(src[k] ?? '')) k++;
      lastWord = src.slice(i, k);
      lastSignificant = src[k - 1] ?? '';
      i = k;
      continue;
    }
    if (!/\s/.test(c)) {
      lastSignificant = c;
      lastWord = '';
    }
    i++;
  }
  return out.join('');
}

// After an identifier, `)` or `]`: `!` not starting `!=`/`!==`. A keyword
// before `!` (`return!x`) is a prefix not, filtered below.
const NON_NULL_RE = /([A-Za-z0-9_$)\]])!(?!=)/g;
const ANY_RE = /(?<![A-Za-z0-9_$.])any(?![A-Za-z0-9_$])/g;

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}
function lineOf(starts: readonly number[], index: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/**
 * For each offset, whether it lies in a top-level statement that begins with
 * `export` (signature and body alike; a `function` body counts too, which
 * over-reports at worst).
 */
function exportedRegions(code: string): (index: number) => boolean {
  const regions: Array<[number, number]> = [];
  let depth = 0;
  let stmtStart = -1;
  let exported = false;
  for (let i = 0; i < code.length; i++) {
    const c = code[i] ?? '';
    if (depth === 0 && stmtStart < 0 && !/\s/.test(c)) {
      stmtStart = i;
      exported = code.startsWith('export', i);
    }
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') {
      depth--;
      if (depth === 0 && c === '}') {
        // A declaration with a body ends at its closing brace unless more follows on the line (`} as const;`, `} from`).
        const rest = code.slice(i + 1, code.indexOf('\n', i + 1) < 0 ? code.length : code.indexOf('\n', i + 1)).trim();
        if (rest === '') {
          if (exported) regions.push([stmtStart, i]);
          stmtStart = -1;
        }
      }
    } else if (c === ';' && depth === 0) {
      if (exported) regions.push([stmtStart, i]);
      stmtStart = -1;
    }
  }
  if (stmtStart >= 0 && exported) regions.push([stmtStart, code.length]);
  return (index) => regions.some(([a, b]) => index >= a && index <= b);
}

/** Scan one file's text. */
export function scanText(file: string, src: string): Finding[] {
  const code = codeOnly(src);
  const starts = lineStarts(src);
  const srcLines = src.split('\n');
  const out: Finding[] = [];
  const add = (index: number, kind: FindingKind, exported: boolean): void => {
    const line = lineOf(starts, index);
    out.push({ file, line, kind, exported, text: (srcLines[line - 1] ?? '').trim() });
  };
  for (const m of code.matchAll(NON_NULL_RE)) {
    const bang = m.index + 1;
    // Prefix not after a keyword: `return!x`, `typeof!x` (rare, but not an assertion).
    let w = m.index;
    while (w > 0 && /[A-Za-z0-9_$]/.test(code[w - 1] ?? '')) w--;
    if (KEYWORDS_BEFORE_EXPR.has(code.slice(w, m.index + 1))) continue;
    const next = code.slice(bang + 1).match(/^\s*(.)/)?.[1] ?? '';
    add(bang, next === ':' ? 'definite' : 'non-null', false);
  }
  const isExported = exportedRegions(code);
  for (const m of code.matchAll(ANY_RE)) {
    // Only `any` in a type position; a variable that happens to be called `any` is fine.
    const before = code.slice(Math.max(0, m.index - 12), m.index).trimEnd();
    const after = code.slice(m.index + 3, m.index + 8).trimStart();
    const typeBefore = /(?:[:<|&]|\bas|\bextends|\bkeyof|\breadonly)$/.test(before);
    const typeAfter = /^(?:\[\]|[>|&])/.test(after);
    if (typeBefore || typeAfter) add(m.index, 'any', isExported(m.index));
  }
  return out.sort((a, b) => a.line - b.line);
}

/** Every .ts file (not .d.ts) under `dir`, repository-relative with forward slashes. */
export function listTs(root: string, dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(path.join(root, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...listTs(root, rel));
    } else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_DIRS = ['src', 'device', 'host', 'fixtures'];

/** Scan every .ts file under the given repository-relative directories. */
export function scanDirs(dirs: readonly string[] = DEFAULT_DIRS, root = ROOT): Finding[] {
  return dirs.flatMap((d) => listTs(root, d)).flatMap((f) => scanText(f, readFileSync(path.join(root, f), 'utf8')));
}

export function formatFinding(f: Finding): string {
  const kind = f.kind === 'any' && f.exported ? 'any (exported)' : f.kind;
  return `${f.file}:${f.line}: ${kind}: ${f.text}`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2);
  const findings = scanDirs(dirs.length > 0 ? dirs : DEFAULT_DIRS);
  for (const f of findings) console.log(formatFinding(f));
  const count = (k: FindingKind): number => findings.filter((f) => f.kind === k).length;
  console.log(`${findings.length} findings: ${count('non-null')} non-null, ${count('definite')} definite, ${count('any')} any (${findings.filter((f) => f.kind === 'any' && f.exported).length} exported)`);
  process.exitCode = findings.length > 0 ? 1 : 0;
}
