// Aligned plain-text tables for human output.

export type Cell = string | number | boolean | null | undefined;

function text(c: Cell): string {
  if (c === null || c === undefined || c === '') return '-';
  return String(c).replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

/** Columns padded to their widest cell, two spaces apart; no trailing spaces. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => headers.map((_, i) => text(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** A two-column "field  value" listing for one record. */
export function fields(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`.trimEnd()).join('\n')}\n`;
}
