import { z } from 'zod';

/** `scheme://host[:port]` exactly as a browser sends it in `Origin`: no path, query, user or default port. */
const OriginSchema = z.url({ protocol: /^https?$/ }).refine(
  (s) => {
    try {
      return new URL(s).origin === s;
    } catch {
      return false;
    }
  },
  {
    message:
      'an origin as the browser sends it: scheme and host, with a port only when not the default (https://mandate.example.com), no path and no trailing slash; lower case',
  },
);

/** OpenID Connect sign-in to the dashboard (authorization code + PKCE); see docs/configuration.md. */
const OidcSchema = z.strictObject({
  /** The issuer URL; its `/.well-known/openid-configuration` is read at the first sign-in. */
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  /** For a confidential client (client_secret_basic); a public client sends none (PKCE only). */
  clientSecret: z.string().min(1).optional(),
  /** Where the issuer sends the browser back; default `<publicOrigin or this server>/v1/sessions/oidc/callback`. */
  redirectUri: z.url({ protocol: /^https?$/ }).optional(),
  scopes: z.array(z.string().min(1)).default(['openid', 'profile']),
  /** ID token claim holding the Mandate role. */
  roleClaim: z.string().min(1).default('mandate_role'),
  /** ID token claim holding the Mandate user id (the session's subject). */
  subjectClaim: z.string().min(1).default('sub'),
  /** Roles that may sign in this way; `agent` never can. */
  allowedRoles: z
    .array(z.enum(['user', 'approver', 'admin']))
    .min(1)
    .default(['user', 'approver', 'admin']),
});

/** The dashboard at `/ui` and its sessions (docs/configuration.md "dashboard", ADR 0022). */
export const DashboardSchema = z
  .strictObject({
    /** Serve `/ui` and accept session sign-in; off: both answer 404 (the API is unchanged). */
    enabled: z.boolean().default(true),
    /** The built dashboard; default `apps/dashboard/dist` of this installation. */
    dir: z.string().optional(),
    /** Idle lifetime of a session id; requests past half of it get a new id (rotation). */
    sessionTtlSeconds: z.number().int().min(60).max(86_400).default(900),
    /** Absolute lifetime of a sign-in, across rotations. */
    sessionMaxSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(8 * 3600),
    /** Mark the cookie `Secure` even on plain HTTP (behind a TLS-terminating proxy). TLS requests always get it. */
    secureCookies: z.boolean().default(false),
    /**
     * The origin browsers reach the dashboard at (`https://mandate.example.com`), behind a proxy
     * that terminates TLS: requests are checked against it (`Origin`) and the default OIDC
     * redirect URI is on it. Unset: `http(s)://<Host header>`, https over TLS or with `secureCookies`.
     */
    publicOrigin: OriginSchema.optional(),
    /** Open `GET /v1/decisions/stream` connections per credential; one more is refused with 429. */
    maxStreamsPerKey: z.number().int().min(1).max(100).default(5),
    oidc: OidcSchema.optional(),
  })
  .prefault({});
export type DashboardConfig = z.infer<typeof DashboardSchema>;
export type OidcConfig = z.infer<typeof OidcSchema>;
