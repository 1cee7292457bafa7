import type { AuditEvent } from '@mandate/protocol';
import { assertNever } from '../kernel/index.js';
import type { AuditFilter, Store, StoredAuditRecord } from '../storage/index.js';
import { ERASED, TAMPERED, personalOf } from './personal.js';
import { holdToEvents, reportOnce, type TamperReport } from './columns.js';

/** Options of {@link exportAudit}. */
export interface ExportAuditOptions {
  format: 'jsonl' | 'cef';
  /** Receives one chunk of whole lines per page; awaited, so a slow sink slows the export instead of buffering it. */
  write: (chunk: string) => void | Promise<void>;
  filter?: Omit<AuditFilter, 'limit'>;
  /** Records per store read. Default 1,000. */
  batchSize?: number;
  /**
   * Where the first record left out of a filtered export is reported: one found by a query column
   * that disagrees with its hashed event (the node's `auditTampered`; the CLI says so and fails).
   */
  tampered?: TamperReport;
  /** The args HMAC key: kept personal fields are checked against their record's digest (personalOf). */
  hmacKey?: Uint8Array | string | null;
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
  const tampered = reportOnce(opts.tampered);
  let count = 0;
  for (;;) {
    const read = filtered
      ? await store.queryAudit({ ...filter, afterSeq: after, limit: batchSize })
      : await store.readAudit(after, batchSize);
    if (read.length === 0) return count;
    // SECURITY: a filtered export is found by the query columns; a record edited into the filter
    // (an allow's effect set to deny) is not exported as matching. The whole trail is exported as
    // stored: there verify finds the edited column (index_mismatch).
    const page = filtered ? (await holdToEvents(read, tampered)).map((h) => h.rec) : read;
    const personal = await personalOf(store, page, opts.hmacKey);
    let chunk = '';
    for (const r of page) chunk += formatRecord(r, opts.format, personal.get(r.seq)) + '\n';
    if (chunk) await opts.write(chunk);
    count += page.length;
    const last = read[read.length - 1]!.seq;
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
      // The event text is spliced in: it is canonical JSON and exactly what was hashed, but for the
      // Unicode line breaks, escaped (jsonlLine). The kept personal fields (or "erased") go beside
      // it, never into it.
      return jsonlLine(
        `{"seq":${r.seq},"prevHash":${JSON.stringify(r.prevHash)},"hash":${JSON.stringify(r.hash)},"event":${r.eventText}${personal ? `,"personal":${JSON.stringify(personal)}` : ''}}`,
      );
    case 'cef':
      return toCef(r, personal);
    default:
      return assertNever(format, 'export format');
  }
}

/** U+0085 (NEL), U+2028 and U+2029: line breaks to many splitters, raw in JSON strings. */
const JSONL_BREAKS = /[\u0085\u2028\u2029]/g;

/**
 * EVIDENCE: agent-supplied strings put raw U+2028, U+2029 and U+0085 into JSONL lines (JSON allows
 * them unescaped); a consumer splitting on Unicode line breaks (Python's `str.splitlines`, many log
 * shippers) cut the record in two, neither half parsing (a probe). Written `\u2028` etc. instead:
 * the same JSON value, so the canonical form of the parsed event, and any hash recomputed from it,
 * is unchanged. These characters appear only inside string literals of valid JSON, never after a
 * backslash, so replacing them in the whole line is exact.
 */
function jsonlLine(line: string): string {
  return line.replace(JSONL_BREAKS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function toCef(r: StoredAuditRecord, personal?: Record<string, unknown>): string {
  // Fields come from the hashed event, not the query columns, which are only an index.
  const event = JSON.parse(r.eventText) as AuditEvent;
  const name = event.effect ? `${event.type} ${event.effect}` : event.type;
  const caller = callerOf(event);
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(event.time)],
    // Who acted: the agent of a decision, else the caller's subject (a refusal on another route).
    ['suser', event.agent ?? caller.subject],
    ['suid', caller.keyId],
    ['spriv', caller.role],
    ['duser', event.user],
    ['act', event.action],
    ['outcome', event.effect],
  ];
  const refusal = event.type === 'request.refused' ? (event.data as { code?: unknown; route?: unknown }) : {};
  if (typeof refusal.code === 'string') ext.push(['reason', refusal.code]);
  if (event.decisionId !== undefined) ext.push(['cs1Label', 'decisionId'], ['cs1', event.decisionId]);
  ext.push(['cs2Label', 'hash'], ['cs2', r.hash]);
  // A SIEM gets no personal data, only whether what was kept for this record is still there.
  if (personal) {
    const values = Object.values(personal);
    const state = values.includes(TAMPERED) ? TAMPERED : values.includes(ERASED) ? ERASED : 'kept';
    ext.push(['cs3Label', 'personal'], ['cs3', state]);
  }
  // The route template (`POST /v1/approvals/:id/approve`, `MCP /mcp`, `decision`) a refusal was on.
  if (typeof refusal.route === 'string') ext.push(['cs4Label', 'route'], ['cs4', refusal.route]);
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

/**
 * The caller a record names: `data.caller` is `{ role, subject, keyId }` on a `request.refused`,
 * the key id on a decision, its outcome and an `audit.read` (whose role is `data.role`).
 */
function callerOf(event: AuditEvent): { subject?: string; keyId?: string; role?: string } {
  const c = event.data?.caller;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  if (typeof c === 'string') return { keyId: str(c), role: str(event.data.role) };
  if (c && typeof c === 'object') {
    const o = c as Record<string, unknown>;
    return { subject: str(o.subject), keyId: str(o.keyId), role: str(o.role) };
  }
  return {};
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

/**
 * Characters a CEF consumer could take for the end of a line or that hide text: C0 and C1
 * controls, DEL, the Unicode line and paragraph separators (U+2028/U+2029, which JavaScript, many
 * log shippers and U+0085-aware splitters treat as line breaks), the bidi overrides and isolates,
 * and lone surrogates.
 */
// The ranges are the point: these are exactly the characters that must not reach a CEF line raw.
// eslint-disable-next-line no-control-regex
const CEF_UNSAFE = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]|\p{Cs}/u;

/** `\\uXXXX`: an escaped backslash and the code point, so every CEF parser reads the same literal text. */
const cefCodePoint = (ch: string) => `\\\\u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

const CEF_HEADER_ESCAPES = new RegExp(`[\\\\|]|\\r\\n|\\r|\\n|${CEF_UNSAFE.source}`, 'gu');
const CEF_EXTENSION_ESCAPES = new RegExp(`[\\\\=\\r\\n]|${CEF_UNSAFE.source}`, 'gu');

/**
 * CEF header fields escape `\` and `|`; a line break would end the record, so it becomes a space;
 * any other character of {@link CEF_UNSAFE} is written `\\uXXXX` (a literal backslash, then the
 * code point).
 */
export function cefHeader(value: string): string {
  return value.replace(CEF_HEADER_ESCAPES, (ch) => {
    if (ch === '\\') return '\\\\';
    if (ch === '|') return '\\|';
    if (ch === '\r\n' || ch === '\r' || ch === '\n') return ' ';
    return cefCodePoint(ch);
  });
}

/**
 * CEF extension values escape `\` and `=`, encode line breaks as `\n` / `\r`, and write any other
 * character of {@link CEF_UNSAFE} as `\\uXXXX` (a literal backslash, then the code point): a
 * value can never start a second CEF line, whichever line breaks its consumer splits on.
 */
export function cefExtension(value: string): string {
  return value.replace(CEF_EXTENSION_ESCAPES, (ch) => {
    if (ch === '\\') return '\\\\';
    if (ch === '=') return '\\=';
    if (ch === '\r') return '\\r';
    if (ch === '\n') return '\\n';
    return cefCodePoint(ch);
  });
}
