import { MandateError } from '../kernel/index.js';

/** Why the node could not listen where it was told, said so that its operator can act on it. */
const WHY: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another process listens there)',
  EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine’s',
};

/**
 * A listen failure as a configuration error (`bad_request`, the CLI's exit 2) naming the address
 * and the settings that choose it; anything else as it came. `mandate serve` on a port in use
 * printed Node's stack trace and exited 5, "internal error" (a probe).
 */
export function listenError(err: NodeJS.ErrnoException, at: { host: string; port: number }): Error {
  const why = err.code === undefined ? undefined : WHY[err.code];
  if (why === undefined) return err;
  return new MandateError(
    'bad_request',
    `cannot listen on ${at.host}:${at.port}: ${why}; choose another with --port, MANDATE_PORT or server.port in the config`,
  );
}
