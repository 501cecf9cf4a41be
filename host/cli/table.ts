// Plain-text tables for help and listings that scripts (and the README
// generator) capture: columns separated by at least two spaces, an empty cell
// shown as "-", no trailing blanks, no tabs, no terminal escapes, one line
// per row. Also the same rows as a Markdown table.

/** Cells never contain a line break or a run of two spaces (that is the column separator). */
function clean(cell: string): string {
  const c = cell.replace(/\s+/g, ' ').trim();
  return c === '' ? '-' : c;
}

/** Aligned text table; `indent` spaces before every line. */
export function formatTable(head: readonly string[], rows: readonly (readonly string[])[], indent = 0): string {
  const all = [head, ...rows].map((r) => head.map((_, i) => clean(r[i] ?? '')));
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const pad = ' '.repeat(indent);
  return all.map((r) => pad + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ')).join('\n');
}

/** GitHub-flavoured Markdown table ("|" in cells escaped). */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (s: string): string => clean(s).replace(/\|/g, '\\|');
  const line = (r: readonly string[]): string => `| ${head.map((_, i) => cell(r[i] ?? '')).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
