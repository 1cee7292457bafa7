import { HIDDEN_KINDS, displayJson, escapeForDisplay, flagged, type HiddenKind } from '../kernel/index.js';
import type { ApprovalRecord } from '../storage/port.js';

/** What an approver reads of one approval, safe to show anywhere (CLI, webhook, dashboard). */
export interface ApprovalDisplay {
  /** The kinds of hidden or look-alike characters found in any of the fields below; empty when there were none. */
  hidden: HiddenKind[];
  /** The summary, escaped, flagged with `⚠ hidden characters (…)` when it held any. */
  summary: string;
  /** The (redacted) args as compact JSON, escaped, flagged like the summary. */
  args: string;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
}

/**
 * The approver's view of an approval (issue 8 §5: what an approver reads is what runs). Every
 * field an agent could have shaped is escaped; `hidden` says whether anything was, so a screen can
 * warn once at the top. A summary rendered by this version is already escaped and flagged by the
 * tool registry; escaping again here covers records made before, and any other field.
 */
export function approvalDisplay(
  a: Pick<ApprovalRecord, 'summary' | 'args' | 'agent' | 'user' | 'action' | 'resource'>,
): ApprovalDisplay {
  const found = new Set<HiddenKind>();
  const shown = (d: { text: string; hidden: HiddenKind[] }) => {
    for (const k of d.hidden) found.add(k);
    return flagged(d);
  };
  const line = (v: string) => shown(escapeForDisplay(v));
  const view = {
    summary: line(String(a.summary)),
    args: shown(displayJson(a.args)),
    agent: line(String(a.agent)),
    user: a.user == null ? null : line(String(a.user)),
    action: line(String(a.action)),
    resource: a.resource == null ? null : line(String(a.resource)),
  };
  // Every kind the shared escaping knows (a list of its own here dropped the look-alike kinds).
  return { hidden: HIDDEN_KINDS.filter((k) => found.has(k)), ...view };
}
