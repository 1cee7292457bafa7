import type { CompiledPolicySet } from '../policy/port.js';

/**
 * Whether some permit of the policy set could ever apply to `action` for an Agent principal.
 * Used only to hide tools from `tools/list` (never to allow: every call is decided). Conservative:
 * anything not understood counts as "could apply", so a tool is hidden only when provably useless.
 */
export function createVisibility(): (policy: CompiledPolicySet | null, action: string) => boolean {
  let version: string | null = null;
  let cache = new Map<string, boolean>();
  let scopes: PermitScope[] = [];
  let declared = new Set<string>();
  return (policy, action) => {
    if (!policy) return false;
    if (policy.version !== version) {
      version = policy.version;
      cache = new Map();
      declared = new Set(policy.actions);
      scopes = policy.policies.filter((p) => p.effect === 'permit').map((p) => parseScope(p.text));
    }
    let hit = cache.get(action);
    if (hit === undefined) {
      hit = scopes.some((s) => s === null || (s.principalOk && actionMayMatch(s.actions, action, declared)));
      cache.set(action, hit);
    }
    return hit;
  };
}

/** null: not understood (counts as matching everything). */
type PermitScope = { principalOk: boolean; actions: { names: string[]; in: boolean } | 'any' } | null;

function actionMayMatch(
  actions: { names: string[]; in: boolean } | 'any',
  action: string,
  declared: Set<string>,
): boolean {
  if (actions === 'any') return true;
  if (actions.names.includes(action)) return true;
  // `action in Action::"x"`: x may be a group holding ours, unless x is one of the tools' own action names.
  return actions.in && actions.names.some((n) => !declared.has(n) || !n.includes('.'));
}

function parseScope(text: string): PermitScope {
  const src = text.replace(/\/\/[^\n]*/g, '');
  const start = /\bpermit\s*\(/.exec(src);
  if (!start) return null;
  let depth = 1;
  let i = start.index + start[0].length;
  let inStr = false;
  const parts: string[] = [];
  let cur = '';
  for (; i < src.length && depth > 0; i++) {
    const c = src[i]!;
    if (inStr) {
      cur += c;
      if (c === '\\') cur += src[++i] ?? '';
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') {
      depth--;
      if (depth === 0) break;
    } else if (c === ',' && depth === 1) {
      parts.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur.trim());
  if (parts.length !== 3) return null;
  const [principal, action] = parts as [string, string, string];
  let principalOk = true;
  const isType = /^principal\s+is\s+([A-Za-z_][\w:]*)/.exec(principal);
  const eqType = /^principal\s*==\s*([A-Za-z_][\w:]*)::"/.exec(principal);
  if (isType) principalOk = isType[1] === 'Agent';
  else if (eqType) principalOk = eqType[1] === 'Agent';
  if (action === 'action') return { principalOk, actions: 'any' };
  const names = [...action.matchAll(/Action::"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
  if (/^action\s*==/.test(action) && names.length === 1)
    return { principalOk, actions: { names, in: false } };
  if (/^action\s+in\b/.test(action) && names.length > 0) return { principalOk, actions: { names, in: true } };
  return null;
}
