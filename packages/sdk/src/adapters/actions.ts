import { MandateApiError } from '../errors.js';

/**
 * How a framework's tool name becomes a Mandate action (`namespace.verb`). Function-calling APIs
 * forbid dots in names, so the default reads `payments__refund` as `payments.refund`; a map or a
 * function says it explicitly.
 */
export type ActionMapping = Record<string, string> | ((toolName: string) => string);

/** The action of a tool name; a name that maps to nothing is an error (fail closed: nothing runs). */
export function actionFor(toolName: string, mapping: ActionMapping | undefined): string {
  if (typeof mapping === 'function') return mapping(toolName);
  // Own entries only: a tool named `toString` or `__proto__` is not mapped by Object's prototype.
  const mapped = mapping && Object.hasOwn(mapping, toolName) ? mapping[toolName] : undefined;
  if (typeof mapped === 'string' && mapped !== '') return mapped;
  if (toolName.includes('.')) return toolName;
  if (toolName.includes('__')) return toolName.replace('__', '.');
  throw new MandateApiError(
    'unknown_action',
    `no Mandate action for tool "${toolName}": name it namespace__verb or pass actions: { "${toolName}": "namespace.verb" }`,
  );
}

/** A mapping as something to compare: the function itself, or its entries in order. */
export function mappingKey(mapping: ActionMapping | undefined): unknown {
  if (typeof mapping !== 'object') return mapping;
  return JSON.stringify(Object.entries(mapping).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
