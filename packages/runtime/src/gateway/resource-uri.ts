/**
 * SECURITY: a resource URI is decided as the string the client sent (`context.args.uri`), and an
 * upstream resolves it (WHATWG URL, `fileURLToPath`, its own decoder). A URI that resolves to
 * something else than it spells — `file:///srv/docs/../../etc/passwd`, `…/%2e%2e/…`, `…/a%2Fb`,
 * `…\..\` — let a permit such as `uri like "file:///srv/docs/*"` allow a read outside the folder
 * (a probe read /etc/passwd so). The gateway therefore takes only URIs already in their canonical
 * form, so that the policy and the upstream see the same string and `like "file:///srv/docs/*"`
 * means what it says: the URI must parse (WHATWG `new URL`), the parser must give back exactly the
 * same string, and neither the path nor any other part may hold what the parser leaves alone but an
 * upstream may still resolve (non-hierarchical and custom schemes such as `mem:` keep `..`, `%2e`
 * and backslashes as they are).
 *
 * Returns why the URI is refused (never the URI itself: the reason goes on the record), or null
 * when it is canonical.
 */
export function uriProblem(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'not a URI';
  }
  if (url.href !== uri) return 'not in its canonical form (the URL parser rewrites it)';
  if (uri.includes('\\')) return 'a backslash';
  if (uri.includes('\0')) return 'a NUL character';
  for (const m of uri.matchAll(/%(.?.?)/g)) {
    const hex = m[1]!;
    if (!/^[0-9A-F]{2}$/.test(hex)) return 'a percent-encoding that is not two uppercase hex digits';
    const c = String.fromCharCode(parseInt(hex, 16));
    if (c === '\0') return 'an encoded NUL (%00)';
    // RFC 3986 §6.2.2.2: unreserved characters are never encoded in the canonical form (%2E is ".").
    if (/[A-Za-z0-9\-._~]/.test(c)) return 'a percent-encoded unreserved character (such as %2E)';
  }
  // Everything before the query and fragment: the authority and the path.
  const hierarchical = uri.replace(/[?#][\s\S]*$/, '');
  if (/%2F|%5C/.test(hierarchical)) return 'an encoded slash or backslash (%2F, %5C)';
  // SECURITY: not only the path: a custom-scheme upstream may take the whole string for a path, so
  // `mem://docs/x?/../../secret` (path `/x` to the parser) matched `uri like "mem://docs/*"` and
  // could resolve outside docs. So no segment anywhere after the scheme — between `/`, `?`, `#`
  // or `;` — may be `.` or `..`. `;` too: path parameters (`/..;/`) are stripped by servlet
  // containers and the like, which then see `..`. A `..` inside a segment (`?x=..`) is no segment.
  for (const segment of uri.slice(url.protocol.length).split(/[/?#;]/)) {
    if (segment === '.' || segment === '..') return 'a dot segment ("." or "..")';
  }
  return null;
}
