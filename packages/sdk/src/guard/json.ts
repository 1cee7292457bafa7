/**
 * Whether a JSON text names a key twice in one object (after unescaping, as the runtime's strict
 * parser compares them). `JSON.parse` keeps the last one silently; a tool must not run with a value
 * other than the one that was checked. Assumes `text` is valid JSON (`JSON.parse` accepted it).
 */
export function hasDuplicateKeys(text: string): boolean {
  const objects: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (ch === '[') {
      objects.push(null);
      expectKey = false;
    } else if (ch === '}' || ch === ']') {
      objects.pop();
      expectKey = false;
    } else if (ch === ',') {
      expectKey = objects.at(-1) instanceof Set;
    } else if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const keys = objects.at(-1)!;
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return false;
}
