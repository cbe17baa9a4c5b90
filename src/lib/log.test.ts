// Logging: secrets are censored before a line reaches the daily file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger, scrubSecrets } from './log.ts';
import { makeTempDir } from '../../test/support/tmp.ts';
import { poll } from '../../test/support/poll.ts';

describe('log: secrets never reach the file', async () => {
  const dir = await makeTempDir('log');
  after(() => dir.remove());
  const log = createLogger({ dataDir: dir.path, service: 'logtest', level: 'silent' });
  const file = () => join(dir.path, 'logs', `logtest.log.${new Date().toISOString().slice(0, 10)}`);
  const lines = async (n: number) => poll(`${n} log lines`, async () => {
    const text = (() => { try { return readFileSync(file(), 'utf8'); } catch { return ''; } })();
    const all = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    return all.length >= n ? all : undefined;
  }, 5000);

  it('censors secret-named values at every depth and keeps the rest', async () => {
    const logged = {
      queueId: 'q1',
      password: 'pw-top',
      key: 'top-key',
      auth: { user: 'alice', pass: 'pw-nodemailer' },
      relay: { host: 'smtp.example', password: 'pw-nested', key: 'selector-key-kept' },
      req: { headers: { authorization: 'Bearer tok-1', 'x-service-key': 'svc-1', 'content-type': 'application/json' } },
      dkim: { privateKeyPem: '-----BEGIN PRIVATE KEY-----' },
      list: ['a', 'b'],
    };
    const before = JSON.stringify(logged);
    log.info(logged, 'with secrets');
    const [line] = await lines(1);
    const text = JSON.stringify(line);
    for (const secret of ['pw-top', 'top-key', 'pw-nodemailer', 'pw-nested', 'tok-1', 'svc-1', 'BEGIN PRIVATE KEY']) {
      assert.doesNotMatch(text, new RegExp(secret), `${secret} reached the log`);
    }
    assert.equal(line.password, '[redacted]');
    assert.equal(line.auth, '[redacted]');
    assert.equal(line.relay.host, 'smtp.example');
    assert.equal(line.relay.key, 'selector-key-kept', 'a nested `key` is not a secret name');
    assert.equal(line.req.headers['content-type'], 'application/json');
    assert.deepEqual(line.list, ['a', 'b']);
    assert.equal(line.queueId, 'q1');
    assert.equal(JSON.stringify(logged), before, 'the caller\'s object is not changed');
  });

  it('censors a secret carried on an error and keeps its message', async () => {
    const err = Object.assign(new Error('login failed'), { password: 'pw-in-error', code: 'EAUTH' });
    log.warn({ err }, 'with an error');
    const all = await lines(2);
    const line = all[1];
    assert.equal(line.err.message, 'login failed');
    assert.equal(line.err.code, 'EAUTH');
    assert.equal(line.err.password, '[redacted]');
    assert.doesNotMatch(JSON.stringify(line), /pw-in-error/);
  });

  it('returns the same object when there is nothing to hide', () => {
    const obj = { queueId: 'q', data: { rcpt: 'a@b.example', code: 250 } };
    assert.equal(scrubSecrets(obj), obj);
  });
});
