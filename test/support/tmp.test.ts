// Tests for the temp-dir and free-port helpers used by every other test peer.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, makeTempDir } from './tmp.ts';

describe('test/support/tmp', () => {
  it('makeTempDir creates distinct directories and remove() deletes them with their content', async () => {
    const a = await makeTempDir('tmp test/x');
    const b = await makeTempDir('tmp test/x');
    assert.notEqual(a.path, b.path);
    assert.match(a.path, /mana-tmp-test-x-/);
    await writeFile(join(a.path, 'f'), 'x');
    await a.remove();
    await b.remove();
    assert.equal(existsSync(a.path), false);
    assert.equal(existsSync(b.path), false);
    await a.remove(); // second call is harmless
  });

  it('freePort returns a port that can then be bound on 127.0.0.1', async () => {
    const port = await freePort();
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.equal(address.port, port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
