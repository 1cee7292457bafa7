/**
 * Does a JSON schema declare this dotted path under `properties`? A schema level that lists no
 * properties at all may hold anything: it counts as declaring (fail closed for grant limits).
 */
export function schemaDeclares(schema: unknown, path: string): boolean {
  let s = schema;
  for (const seg of path.split('.')) {
    if (!s || typeof s !== 'object') return true;
    const props = (s as { properties?: unknown }).properties;
    if (!props || typeof props !== 'object') return true;
    if (!Object.prototype.hasOwnProperty.call(props, seg)) return false;
    s = (props as Record<string, unknown>)[seg];
  }
  return true;
}
