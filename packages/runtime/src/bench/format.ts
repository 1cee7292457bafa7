/** Number and table formatting shared by the bench's report sections. */

export function fmtOps(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function fmtUs(us: number): string {
  if (us < 1000) return `${us.toFixed(us < 10 ? 1 : 0)} µs`;
  if (us < 100_000) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1000).toFixed(0)} ms`;
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
}

export const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** A Markdown table's header and alignment rows; `align` has one letter per column, `l` or `r`. */
export function tableHead(labels: string[], align: string): string[] {
  return [row(labels), row([...align].map((a) => (a === 'r' ? '---:' : '---')))];
}

/** Group commit: audit events per store transaction (each one WAL fsync, ADR 0028). */
export const perFsync = (c: { events: number; transactions: number }) =>
  c.transactions > 0 ? (c.events / c.transactions).toFixed(1) : '–';
