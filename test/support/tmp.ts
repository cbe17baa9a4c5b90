// Test support: throwaway directories and free TCP ports on 127.0.0.1 (no RFC; plain OS plumbing).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TempDir = {
  path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  remove: () => Promise<void>;
};

/** Creates a fresh directory under the OS temp dir, named `mana-<prefix>-XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '-');
  const path = await mkdtemp(join(tmpdir(), `mana-${safe}-`));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/**
 * Asks the kernel for a free port on 127.0.0.1 (listen on port 0, read it, close).
 * Only for peers that cannot listen on port 0 themselves (Postfix): there is a small window
 * in which another process could take the port.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw Object.assign(new Error('listening socket has no port'), { code: 'test.no_port' });
  }
  return address.port;
}
