import { MandateError } from '../kernel/index.js';

/** Why the node could not listen where it was told, said so that its operator can act on it. */
const WHY: Record<string, { why: string; choose: 'port' | 'host' }> = {
  EADDRINUSE: { why: 'the address is already in use (another process listens there)', choose: 'port' },
  EACCES: { why: 'permission denied (a port below 1024 needs privileges)', choose: 'port' },
  EADDRNOTAVAIL: { why: 'the address is not one of this machine’s', choose: 'host' },
  ENOTFOUND: { why: 'the host name does not resolve', choose: 'host' },
  EAI_AGAIN: { why: 'the host name could not be resolved now', choose: 'host' },
};

/**
 * A listen failure as a configuration error (`bad_request`, the CLI's exit 2) naming the address
 * and the settings that choose it; anything else as it came. `mandate serve` on a port in use
 * printed Node's stack trace and exited 5, "internal error" (a probe).
 */
export function listenError(err: NodeJS.ErrnoException, at: { host: string; port: number }): Error {
  const known = err.code === undefined ? undefined : WHY[err.code];
  if (known === undefined) return err;
  const choose =
    known.choose === 'port'
      ? '--port, MANDATE_PORT or server.port in the config'
      : '--host, MANDATE_HOST or server.host in the config';
  return new MandateError(
    'bad_request',
    `cannot listen on ${at.host}:${at.port}: ${known.why}; choose another with ${choose}`,
  );
}
