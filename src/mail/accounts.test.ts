// Tests of accounts: the reserved name of the capture mailbox, deletion with the account's mail, and login of an unknown name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import type { Store } from '../store/store.ts';
import { AccountError, addDomain, authenticate, createPrincipal, deletePrincipal, getPrincipal, savePrincipal } from './accounts.ts';
import { CAPTURE_MAILBOX, storeInMailbox } from './mailbox.ts';
import { verifySecret } from './secrets.ts';

for (const factory of storeFactories()) describe(`mail/accounts (${factory.name})`, () => {
  let store: Store;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ store, cleanup } = await factory.open());
    await store.tx((q) => addDomain(q, 'mana.test'));
  });
  after(async () => {
    await cleanup?.();
  });

  const reserved = (err: unknown) => {
    assert.ok(err instanceof AccountError, String(err));
    assert.equal(err.body.error, 'fieldInvalid');
    assert.equal(err.body.field, 'name');
    assert.match(String(err.body.details), /reserved/);
    return true;
  };

  it(`refuses to create an account named ${CAPTURE_MAILBOX}, in any case`, async () => {
    for (const name of [CAPTURE_MAILBOX, 'Captured', ' captured ']) {
      await assert.rejects(store.tx((q) => createPrincipal(q, { type: 'individual', name, secrets: ['pw-123456789'] })), reserved);
    }
    assert.equal(await getPrincipal(store, CAPTURE_MAILBOX), undefined);
  });

  it(`refuses to rename an account to ${CAPTURE_MAILBOX} (the rename is saved through savePrincipal)`, async () => {
    await store.tx((q) => createPrincipal(q, { type: 'individual', name: 'carol', secrets: ['pw-123456789'] }));
    const carol = (await getPrincipal(store, 'carol'))!;
    await assert.rejects(store.tx((q) => savePrincipal(q, { ...carol, name: CAPTURE_MAILBOX })), reserved);
  });

  it('deleting an account deletes its mail; an account made again under the name starts empty; captured mail stays', async () => {
    await store.tx((q) => createPrincipal(q, { type: 'individual', name: 'dave', secrets: ['pw-123456789'], emails: ['dave@mana.test'] }));
    for (const mailbox of ['dave', 'dave', CAPTURE_MAILBOX, 'erin']) {
      await store.tx((q) => storeInMailbox(q, { mailbox, queueId: 'q1', mailFrom: 'x@example.org', rcpt: `${mailbox}@mana.test`, raw: Buffer.from('Subject: x\r\n\r\nx\r\n') }));
    }
    const count = async (mailbox: string) => Number((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_mailbox WHERE mailbox = ?', [mailbox]))!.n);
    assert.equal(await count('dave'), 2);
    assert.equal(await store.tx((q) => deletePrincipal(q, 'dave')), true);
    assert.equal(await count('dave'), 0, 'the deleted account\'s mail is gone');
    assert.equal(await count(CAPTURE_MAILBOX), 1);
    assert.equal(await count('erin'), 1);
    await store.tx((q) => createPrincipal(q, { type: 'individual', name: 'dave', secrets: ['pw-2'] }));
    assert.equal(await count('dave'), 0, 'the new dave inherits nothing');
  });

  it('an unknown name is checked against a hash like the real ones before the refusal', async () => {
    await store.tx((q) => createPrincipal(q, { type: 'individual', name: 'frank', secrets: ['frank-pw-1'] }));
    const seen: string[] = [];
    const verify = (stored: string, password: string) => {
      seen.push(stored);
      return verifySecret(stored, password);
    };
    assert.equal(await authenticate(store, 'nobody-here', 'frank-pw-1', verify), undefined);
    assert.equal(seen.length, 1, 'the verifier ran for the unknown name');
    const real = JSON.parse((await store.get<{ secrets: string }>('SELECT secrets FROM mail_principals WHERE name = ?', ['frank']))!.secrets)[0] as string;
    assert.equal(seen[0].split('$').slice(0, 3).join('$'), real.split('$').slice(0, 3).join('$'), 'same scheme and parameters as a stored hash');
    seen.length = 0;
    assert.equal((await authenticate(store, 'frank', 'frank-pw-1', verify))?.name, 'frank');
    assert.deepEqual(seen, [real]);
    seen.length = 0;
    assert.equal(await authenticate(store, 'frank', 'wrong', verify), undefined);
    assert.deepEqual(seen, [real]);
  });
});
