/**
 * Listings as the docker CLI prints them: Go's tabwriter with minwidth 10, padding 3,
 * blanks (docker/cli `formatter.Context`); the last cell of a row is never padded. A
 * `--format` starting with `table` keeps the header row (each field's docker header), any
 * other `--format` prints one template line per item and no header.
 */
import { compile } from './go-template.js';

const MIN_WIDTH = 10;
const PADDING = 3;

/** Cells separated by tabs, rows by newlines: align every column but the last of each row. */
export function tabwrite(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, Math.max([...cell].length + PADDING, MIN_WIDTH));
    });
  }
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('') + '\n').join('');
}

export interface Listing<T> {
  /** the default table, e.g. 'table {{.ID}}\t{{.Image}}' */
  defaultFormat: string;
  /** header for a field name, e.g. ID -> 'CONTAINER ID' */
  headers: Record<string, string>;
  /** the object a template sees for one item */
  context: (item: T) => Record<string, unknown>;
}

/** Render items with a docker-style --format (or the listing's default table). */
export function formatListing<T>(items: T[], listing: Listing<T>, format: string | undefined): string {
  let f = format ?? listing.defaultFormat;
  if (f === 'json') f = '{{json .}}';
  const isTable = f.startsWith('table');
  const body = isTable ? f.slice('table'.length).trimStart() : f;
  const tpl = compile(body);
  if (!isTable) return items.map((i) => `${tpl.execute(listing.context(i))}\n`).join('');
  // The header row: the same template over an object whose fields are their headers.
  const headerCtx = new Proxy({}, { get: (_t, key) => (typeof key === 'string' ? (listing.headers[key] ?? key.toUpperCase()) : undefined) });
  const lines = [tpl.execute(headerCtx), ...items.map((i) => tpl.execute(listing.context(i)))];
  return tabwrite(lines.map((l) => l.split('\t')));
}
