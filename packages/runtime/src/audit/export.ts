import type { AuditEvent } from '@mandate/protocol';
import { assertNever } from '../kernel/index.js';
import type { AuditFilter, Store, StoredAuditRecord } from '../storage/index.js';
import { ERASED, personalOf } from './personal.js';

/** Options of {@link exportAudit}. */
export interface ExportAuditOptions {
  format: 'jsonl' | 'cef';
  /** Receives one chunk of whole lines per page; awaited, so a slow sink slows the export instead of buffering it. */
  write: (chunk: string) => void | Promise<void>;
  filter?: Omit<AuditFilter, 'limit'>;
  /** Records per store read. Default 1,000. */
  batchSize?: number;
}

/** The product version in CEF headers. */
const CEF_VERSION = '0.1';

/**
 * Streams audit records in seq order as JSON lines (`{"seq","prevHash","hash","event"}`, the
 * event exactly as hashed, so the chain can be re-verified from the export) or as CEF lines for
 * syslog/SIEM. Returns the number of records written.
 */
export async function exportAudit(store: Store, opts: ExportAuditOptions): Promise<number> {
  const batchSize = opts.batchSize ?? 1000;
  const filter = opts.filter ?? {};
  const filtered = Object.entries(filter).some(([k, v]) => k !== 'afterSeq' && v !== undefined);
  let after = filter.afterSeq ?? 0;
  let count = 0;
  for (;;) {
    const page = filtered
      ? await store.queryAudit({ ...filter, afterSeq: after, limit: batchSize })
      : await store.readAudit(after, batchSize);
    if (page.length === 0) return count;
    const personal = await personalOf(store, page);
    let chunk = '';
    for (const r of page) chunk += formatRecord(r, opts.format, personal.get(r.seq)) + '\n';
    await opts.write(chunk);
    count += page.length;
    const last = page[page.length - 1]!.seq;
    // A store that does not move forward would loop forever; stop rather than spin.
    if (last <= after) return count;
    after = last;
  }
}

/** One record in the given format, without the trailing newline. */
export function formatRecord(
  r: StoredAuditRecord,
  format: ExportAuditOptions['format'],
  personal?: Record<string, unknown>,
): string {
  switch (format) {
    case 'jsonl':
      // The event text is spliced in verbatim: it is canonical JSON and exactly what was hashed. The
      // kept personal fields (or "erased") go beside it, never into it.
      return `{"seq":${r.seq},"prevHash":${JSON.stringify(r.prevHash)},"hash":${JSON.stringify(r.hash)},"event":${r.eventText}${personal ? `,"personal":${JSON.stringify(personal)}` : ''}}`;
    case 'cef':
      return toCef(r, personal);
    default:
      return assertNever(format, 'export format');
  }
}

function toCef(r: StoredAuditRecord, personal?: Record<string, unknown>): string {
  // Fields come from the hashed event, not the query columns, which are only an index.
  const event = JSON.parse(r.eventText) as AuditEvent;
  const name = event.effect ? `${event.type} ${event.effect}` : event.type;
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(event.time)],
    ['suser', event.agent],
    ['duser', event.user],
    ['act', event.action],
    ['outcome', event.effect],
  ];
  if (event.decisionId !== undefined) ext.push(['cs1Label', 'decisionId'], ['cs1', event.decisionId]);
  ext.push(['cs2Label', 'hash'], ['cs2', r.hash]);
  // A SIEM gets no personal data, only whether what was kept for this record is still there.
  if (personal)
    ext.push(['cs3Label', 'personal'], ['cs3', Object.values(personal).includes(ERASED) ? ERASED : 'kept']);
  const extension = ext
    .filter(
      (e): e is [string, string | number] =>
        e[1] !== undefined && !(typeof e[1] === 'number' && Number.isNaN(e[1])),
    )
    .map(([k, v]) => `${k}=${cefExtension(String(v))}`)
    .join(' ');
  return [
    'CEF:0',
    'Mandate',
    'Mandate',
    CEF_VERSION,
    cefHeader(event.type),
    cefHeader(name),
    String(severity(event)),
    extension,
  ].join('|');
}

/** CEF severity 0–10: how much a SOC should care. */
function severity(event: AuditEvent): number {
  if (event.type === 'decision') {
    if (event.effect === 'deny') return 6;
    if (event.effect === 'approval_required') return 4;
    return 2;
  }
  switch (event.type) {
    case 'audit.erased':
    case 'personal_data.erased':
    case 'audit.verify_failed':
    case 'tool.quarantined':
      return 8;
    case 'policy.activated':
    case 'key.created':
    case 'grant.revoked':
    case 'approval.denied':
      return 5;
    default:
      return 3;
  }
}

/** CEF header fields escape `\` and `|`; a line break would end the record, so it becomes a space. */
export function cefHeader(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r\n|\r|\n/g, ' ');
}

/** CEF extension values escape `\` and `=`, and encode line breaks as `\n` / `\r`. */
export function cefExtension(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}
