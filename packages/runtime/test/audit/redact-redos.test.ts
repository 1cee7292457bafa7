// SECURITY (probe f6): one string arg of `password="x` repeated (375 KiB) held the event loop 20 s:
// NAMED_CREDENTIAL's lookahead ran to the end of the run from every `password=` in it (quadratic;
// V8's linear engine does not take a pattern with a lookbehind), and `eyJ-` repeated did the same
// to the JWT pattern from every `-`. Every pattern is now linear: the lookaheads after a
// credential name are bounded, and a JWT starts only where a base64url run starts. DESIGN forbids
// timing asserts, so the bound is this suite's timeout: each 1 MiB worst shape below runs well
// under a second now, and took minutes before (the test then fails as timed out).
import { describe, expect, it } from 'vitest';
import { REDACTED_SECRET as S, createRedactor, looksLikeSecret, redactText } from '../../src/audit/redact.js';

const MiB = 1 << 20;
const redact = createRedactor({ paths: [] });

/** The worst shape of each pattern: a run of starts, each of which scans (or used to) the rest. */
const SHAPES: [string, string][] = [
  ['named credential, quoted (the probe)', 'password="x'],
  ['named credential, single-quoted', "password='x"],
  ['named credential, unquoted', 'password=x'],
  ['named credential, spaces', 'password= '],
  ['named credential, colon', 'password:'],
  ['named credential, colon and blanks', 'password: \t'],
  ['quoted credential, escapes', 'secret: "\\'],
  ['token name', 'access_token:"a\\'],
  ['name prefix run', 'passwordx'],
  ['JWT, dash-separated starts', 'eyJ-'],
  ['JWT, dotted', 'eyJaaaaa.'],
  ['Bearer', 'Bearer -'],
  ['Bearer, no token', 'Bearer '],
  ['Basic', 'Basic aaaaaa=== '],
  ['private key header', '-----BEGIN A '],
  ['private key end line', '-----END A '],
  ['card digits', '4 '],
  ['dotted card', '4111.'],
  ['sk- key', 'sk-'],
  ['Slack token', 'xoxb-'],
  ['Mandate key', 'mdt_'],
  ['GitHub fine-grained token', 'github_pat_'],
  ['SendGrid key', 'SG.aaaa'],
  ['Slack webhook', 'hooks.slack.com/services/'],
  ['OpenPGP header', '-----BEGIN PGP PRIVATE KEY BLOCK'],
  ['card digits, no-break spaces', '4\u00a0'],
  ['URL schemes', 'abc://'],
  ['URL password, no @', 'abc://:xxxx'],
  ['URL user and password, @ missing', 'a.b-c+d://user:pass'],
  ['URL, colons', 'abc://:'],
  ['URL, two-letter schemes and @', 'ws://u:@'],
  ['URL, password of @ and slashes', 'ab://:@/@'],
];

describe('redaction takes linear time on 1 MiB of each pattern’s worst shape', () => {
  for (const [name, unit] of SHAPES)
    it(
      name,
      () => {
        const v = unit.repeat(Math.ceil(MiB / unit.length)).slice(0, MiB);
        const out = redact({ v }).v as string;
        // Whatever was found, nothing secret-shaped is left, and the text is done.
        expect(looksLikeSecret(out)).toBe(false);
        expect(typeof redactText(v)).toBe('string');
      },
      30_000,
    );

  it('a secret at the end of 1 MiB of credential names is still found', () => {
    // The probe's shape is a quoted value of six characters and more (`xpassword=`), so a
    // credential from its first quote on; with each quote closed no value is six long, and only
    // the real one at the end goes.
    const probe = 'password="x'.repeat(MiB / 16) + '\npassword=hunter22 tail';
    expect(redact({ v: probe }).v).toBe(`password="${S}`);
    const v = 'password="x" '.repeat(MiB / 16) + '\npassword=hunter22 tail';
    const out = redact({ v }).v as string;
    expect(out.endsWith(`x" \npassword=${S}`)).toBe(true);
    expect(out.length).toBe(v.length - 'hunter22 tail'.length + S.length);
  }, 30_000);
});
