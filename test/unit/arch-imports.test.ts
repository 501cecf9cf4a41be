// Architecture test: who may import what (ARCHITECTURE.md "Layers and who may
// touch what", the Rust-for-Linux lesson). Drivers are written against typed
// APIs only; the device and the host share nothing but src/; src/ is shared
// by both and so depends on neither.
//
// The rules are data (RULES below). A violation names the importing file, the
// import as written, what it resolves to and the rule it breaks. KNOWN lists
// violations that exist today in code this test's owner may not change, each
// with the fix; they are reported in the test log, not failed, and an entry
// that no longer matches is logged as stale so the list only shrinks.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listTs } from '../../scripts/check-strict.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCANNED_DIRS = ['src', 'device', 'host', 'fixtures'];

/** One import found in a source file. */
interface ImportEdge {
  /** The importing file, repository-relative with forward slashes. */
  file: string;
  line: number;
  /** The specifier as written. */
  spec: string;
  /** Repository-relative target for a relative specifier; undefined for a package or node: builtin. */
  target: string | undefined;
}

interface Rule {
  name: string;
  /** Which importing files the rule governs. */
  appliesTo: (file: string) => boolean;
  /** Why an edge breaks the rule, or undefined when it is allowed. */
  check: (e: ImportEdge) => string | undefined;
}

const under = (p: string | undefined, dir: string): boolean => p !== undefined && (p === dir || p.startsWith(`${dir}/`));

/** What a driver may import besides its own directory (the typed APIs). */
const DRIVER_ALLOWED_FILES = ['host/block/index.ts', 'host/block/types.ts', 'host/pci/index.ts'];
const DRIVER_ALLOWED_DIRS = ['src/spec', 'src/wire', 'src/util'];
/** Packages that are protocol internals: only src/protocol (and the daemons' transports) talk ws/msgpack. */
const DRIVER_FORBIDDEN_PACKAGES = ['ws', 'msgpackr'];

/** host/drivers/<name>/… → host/drivers/<name> */
function driverDir(file: string): string | undefined {
  const m = /^host\/drivers\/([^/]+)\//.exec(file);
  return m === null ? undefined : `host/drivers/${m[1] ?? ''}`;
}

const RULES: readonly Rule[] = [
  {
    name: 'src-is-shared',
    appliesTo: (f) => under(f, 'src'),
    check: (e) => {
      for (const dir of ['device', 'host', 'fixtures', 'test', 'bench']) {
        if (under(e.target, dir)) return `src/ is shared by both sides and must not depend on ${dir}/`;
      }
      return undefined;
    },
  },
  {
    name: 'device-not-host',
    appliesTo: (f) => under(f, 'device'),
    check: (e) => (under(e.target, 'host') ? 'the device daemon must not import host code (share it through src/)' : undefined),
  },
  {
    name: 'host-not-device',
    appliesTo: (f) => under(f, 'host'),
    check: (e) => (under(e.target, 'device') ? 'the host must not import device code (share it through src/)' : undefined),
  },
  {
    name: 'drivers-typed-api',
    appliesTo: (f) => driverDir(f) !== undefined,
    check: (e) => {
      if (e.target === undefined) {
        const pkg = e.spec.startsWith('@') ? e.spec.split('/').slice(0, 2).join('/') : (e.spec.split('/')[0] ?? e.spec);
        return DRIVER_FORBIDDEN_PACKAGES.includes(pkg) ? `drivers must not use the transport package '${pkg}' (protocol internals)` : undefined;
      }
      const own = driverDir(e.file);
      if (own !== undefined && under(e.target, own)) return undefined;
      if (DRIVER_ALLOWED_FILES.includes(e.target)) return undefined;
      if (DRIVER_ALLOWED_DIRS.some((d) => under(e.target, d))) return undefined;
      if (under(e.target, 'host/block')) return 'drivers use the block layer only through host/block/index.ts or types.ts, never its internals';
      if (under(e.target, 'host/pci')) return 'drivers use PCI only through host/pci/index.ts, never its internals';
      if (under(e.target, 'src/protocol')) return 'drivers must not touch protocol internals (src/protocol)';
      if (under(e.target, 'host/drivers')) return 'a driver must not import another driver';
      return `drivers import only ${[...DRIVER_ALLOWED_FILES, ...DRIVER_ALLOWED_DIRS.map((d) => `${d}/`)].join(', ')} and their own directory`;
    },
  },
];

/**
 * Violations that exist in code owned by others, with the fix. Keyed by
 * `file -> target` (the resolved target, so a re-spelled path still matches).
 */
const KNOWN: ReadonlyArray<{ file: string; target: string; fix: string }> = [];

// ---------------------------------------------------------------------------
// Import extraction. Only statements that start a line are read, so imports
// quoted in comments (`// import … from …`, ` * import …`) are not edges.

const STATIC_RE = /^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"\n]+)\1/gm;
const BARE_RE = /^[ \t]*import\s*(['"])([^'"\n]+)\1/gm;
const DYNAMIC_RE = /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;

function lineAt(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Every import edge of one file (`file` repository-relative). */
function extractImports(file: string, text: string): ImportEdge[] {
  const out: ImportEdge[] = [];
  const add = (spec: string, index: number): void => {
    const target = spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) : undefined;
    out.push({ file, line: lineAt(text, index), spec, target });
  };
  for (const re of [STATIC_RE, BARE_RE]) {
    for (const m of text.matchAll(re)) add(m[2] ?? '', m.index);
  }
  for (const m of text.matchAll(DYNAMIC_RE)) {
    const lineStart = text.lastIndexOf('\n', m.index) + 1;
    const before = text.slice(lineStart, m.index).trimStart();
    if (before.startsWith('//') || before.startsWith('*')) continue;
    add(m[2] ?? '', m.index);
  }
  return out;
}

interface Violation {
  edge: ImportEdge;
  rule: string;
  why: string;
}

function checkEdges(edges: readonly ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  for (const edge of edges) {
    for (const r of RULES) {
      if (!r.appliesTo(edge.file)) continue;
      const why = r.check(edge);
      if (why !== undefined) out.push({ edge, rule: r.name, why });
    }
  }
  return out;
}

function formatViolation(v: Violation): string {
  const to = v.edge.target === undefined ? '' : ` (→ ${v.edge.target})`;
  return `${v.edge.file}:${v.edge.line}: import '${v.edge.spec}'${to} breaks ${v.rule}: ${v.why}`;
}

// ---------------------------------------------------------------------------

test('the checker itself: each rule fires on a planted edge; comments are not imports', (t) => {
  const src = [
    "import { a } from '../../block/request.ts';",
    'import {',
    '  b,',
    '  type C,',
    "} from '../../../src/protocol/channel.ts';",
    "export * from '../rnull/index.ts';",
    "import '../../pci/memory.ts';",
    "const m = await import('../../block/tagset.ts');",
    "import { WebSocket } from 'ws';",
    "// import { x } from '../../block/queue.ts';",
    " * import { y } from '../../block/queue.ts';",
    "import type { Ok } from '../../block/types.ts';",
    "import { ok2 } from '../../../src/wire/index.ts';",
    "import { own } from './queue.ts';",
    "import { readFileSync } from 'node:fs';",
  ].join('\n');
  const edges = extractImports('host/drivers/fake/io.ts', src);
  t.deepEqual(
    edges.map((e) => e.spec).sort(),
    [
      '../../../src/protocol/channel.ts', '../../../src/wire/index.ts', '../../block/request.ts', '../../block/tagset.ts',
      '../../block/types.ts', '../../pci/memory.ts', '../rnull/index.ts', './queue.ts', 'node:fs', 'ws',
    ].sort(),
  );
  const bad = checkEdges(edges).map((v) => `${v.edge.spec} ${v.rule}`).sort();
  t.deepEqual(bad, [
    '../../../src/protocol/channel.ts drivers-typed-api',
    '../../block/request.ts drivers-typed-api',
    '../../block/tagset.ts drivers-typed-api',
    '../../pci/memory.ts drivers-typed-api',
    '../rnull/index.ts drivers-typed-api',
    'ws drivers-typed-api',
  ]);
  const multi = edges.find((e) => e.spec.includes('protocol'));
  t.is(multi?.line, 2);

  const cross = checkEdges([
    ...extractImports('src/wire/x.ts', "import { h } from '../../host/block/index.ts';"),
    ...extractImports('device/nvme/x.ts', "import { h } from '../../host/pci/index.ts';"),
    ...extractImports('host/block/x.ts', "import { d } from '../../device/pci/model.ts';"),
  ]);
  t.deepEqual(cross.map((v) => v.rule), ['src-is-shared', 'device-not-host', 'host-not-device']);
  t.regex(formatViolation(cross[0] as Violation), /^src\/wire\/x\.ts:1: import '\.\.\/\.\.\/host\/block\/index\.ts' \(→ host\/block\/index\.ts\) breaks src-is-shared/);
});

test('src/, device/, host/ and drivers keep to their layers', (t) => {
  const files = SCANNED_DIRS.flatMap((d) => listTs(ROOT, d));
  t.true(files.length > 50, 'the tree was found');
  // Every line that starts an import/export-from statement must have become an edge (the extractor misses nothing).
  const fromLines = files.reduce((n, f) => n + (readFileSync(path.join(ROOT, f), 'utf8').match(/^[ \t]*(?:import|export)\b[^;]*?\bfrom\s*['"]/gm)?.length ?? 0), 0);
  const edges = files.flatMap((f) => extractImports(f, readFileSync(path.join(ROOT, f), 'utf8')));
  t.true(edges.length >= fromLines, `${edges.length} edges for ${fromLines} from-clauses`);
  const violations = checkEdges(edges);
  const isKnown = (v: Violation): boolean => KNOWN.some((k) => k.file === v.edge.file && k.target === v.edge.target);
  const fresh = violations.filter((v) => !isKnown(v));
  for (const k of KNOWN) {
    const hit = violations.some((v) => k.file === v.edge.file && k.target === v.edge.target);
    t.log(hit ? `known violation: ${k.file} → ${k.target}; fix: ${k.fix}` : `stale KNOWN entry (fixed, remove it): ${k.file} → ${k.target}`);
  }
  t.deepEqual(fresh.map(formatViolation), [], 'new layering violations');
});
