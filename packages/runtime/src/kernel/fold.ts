/**
 * One fold for names a case-insensitive reader may take for one another: argument keys (a decoder
 * matching fields case-insensitively) and entity ids (two users an approver tells apart only by
 * case or Unicode form).
 */
/** Printable ASCII and ASCII controls: NFKC and the ignorables leave them as they are. */
// eslint-disable-next-line no-control-regex
const ASCII = /^[\u0000-\u007f]*$/;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * A key as a case-insensitive decoder may match it: NFKC, default-ignorable code points removed,
 * then upper- and lower-cased (full mappings) and NFKC again — an over-approximation of Unicode's
 * NFKC_Casefold that also joins what simple, per-character folding joins (Go's `bytes.EqualFold`:
 * `K`/U+212A KELVIN SIGN, `s`/U+017F LONG S, `σ`/`ς`, `ß`/U+1E9E `ẞ`; Java's `equalsIgnoreCase`:
 * `İ`/`i`; .NET's OrdinalIgnoreCase: `ı`/`i`). Where it joins more (`ß`/`ss`), it refuses a call
 * that meant two keys: failing closed on a rare key pair, never opening on one.
 *
 * SECURITY: one round is not a fold: `ẞ` upper-cases to itself and lower-cases to `ß`, which only
 * the next round takes to `ss` — `straße` and `straẞe` came out as two keys while Go reads them as
 * one, and a forbid on `args["straße"]` allowed the call (a probe). The round is repeated until it
 * changes nothing (a test checks every code point reaches it within the bound).
 */
export function foldKey(key: string): string {
  if (ASCII.test(key)) return key.toLowerCase();
  let folded = key;
  for (let round = 0; round < MAX_FOLD_ROUNDS; round++) {
    const next = foldOnce(folded);
    if (next === folded) break;
    folded = next;
  }
  return folded;
}

/** Rounds of {@link foldOnce} before {@link foldKey} stops: a bound on the loop, never reached. */
const MAX_FOLD_ROUNDS = 4;

function foldOnce(key: string): string {
  return key
    .normalize('NFKC')
    .replace(IGNORABLE, '')
    .replace(/\u0130/g, 'i')
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC');
}
