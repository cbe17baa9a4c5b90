// Whole path: RFC 3461 parameters relayed to the next hop (MX or smart host) per recipient: NOTIFY and ORCPT on each RCPT, RET and ENVID on each MAIL (RFC 3461 §4, §5.2.1).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSession } from '../support/raw-smtp.ts';
import { startSmtpPeer, type ReceivedMessage, type SmtpPeer } from '../support/smtp-peer.ts';
import { DOMAIN, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';

const SENDER = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-dsn-hop';

/**
 * Submits one message over implicit TLS (RFC 8314) with AUTH PLAIN, writing each command as given: the envelope
 * can carry different NOTIFY/ORCPT on each RCPT, which nodemailer's client cannot express. Resolves with the final reply.
 */
async function submitRaw(options: { port: number; user: string; pass: string; mail: string; rcpts: string[]; raw: string }): Promise<string> {
  const s = await openSession({ port: options.port, tls: true });
  try {
    assert.match(await s.reply(), /^220/);
    const ehlo = await s.command('EHLO client.test', /^250/);
    assert.match(ehlo, /^250[ -]DSN$/m, 'the submission listener offers DSN');
    await s.command(`AUTH PLAIN ${Buffer.from(`\0${options.user}\0${options.pass}`).toString('base64')}`, /^235/);
    await s.command(options.mail, /^250/);
    for (const rcpt of options.rcpts) await s.command(rcpt, /^250/);
    await s.command('DATA', /^354/);
    const body = options.raw.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    return await s.command(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.`, /^250/);
  } finally {
    await s.write('QUIT\r\n').catch(() => {});
    s.destroy();
  }
}

const queueIdOf = (reply: string) => /queued as ([0-9a-z]+)/.exec(reply)?.[1] ?? assert.fail(`no queue id in ${reply}`);

/** The transactions of one message at a peer (each queue message carries its own Message-ID). */
const transactionsOf = (peer: SmtpPeer, messageId: string): ReceivedMessage[] => peer.messages.filter((m) => m.raw.toString('latin1').includes(messageId));

describe('RFC 3461 parameters passed on to the next hop per recipient (RFC 3461 §5.2.1)', () => {
  let mx: SmtpPeer;
  let relay: SmtpPeer;
  let plainRelay: SmtpPeer;
  let h: MailHarness;
  /** Every MAIL FROM the MX peer answered, delivered or not. */
  const mxMailFroms: Array<Record<string, string>> = [];
  /** Recipients whose transaction the MX peer refuses once with 451 after the data (a session-level deferral). */
  const deferOnce = new Set<string>();

  before(async () => {
    mx = await startSmtpPeer({
      dsn: true,
      onMailFrom: ({ params }) => {
        mxMailFroms.push(params);
        return undefined;
      },
      onData: ({ rcptTo }) => {
        const hit = rcptTo.find((r) => deferOnce.has(r));
        if (hit === undefined) return undefined;
        deferOnce.delete(hit);
        return '451 4.3.0 not now, try another MX';
      },
    });
    relay = await startSmtpPeer({ tls: 'none', dsn: true });
    plainRelay = await startSmtpPeer({ tls: 'none' });
    h = await startMailHarness({
      zone: {
        'dest.example': { MX: [{ exchange: 'mx.dest.example', priority: 10 }] },
        'mx.dest.example': { A: ['127.0.0.1'] },
        'failover.example': { MX: [{ exchange: 'mx1.failover.example', priority: 10 }, { exchange: 'mx2.failover.example', priority: 20 }] },
        'mx1.failover.example': { A: ['127.0.0.1'] },
        'mx2.failover.example': { A: ['127.0.0.1'] },
      },
      mail: {
        mxPort: mx.port,
        queue: { retrySchedule: [1] },
        relayRoutes: {
          'via-relay.example': { host: '127.0.0.1', port: relay.port, tls: 'none' },
          'no-dsn.example': { host: '127.0.0.1', port: plainRelay.port, tls: 'none' },
        },
      },
    });
    await h.addUser('alice', PASSWORD, [SENDER]);
  });
  after(async () => {
    await h?.close();
    await Promise.all([mx?.close(), relay?.close(), plainRelay?.close()]);
  });

  const submit = (o: { mail: string; rcpts: string[]; to: string; messageId: string }) =>
    submitRaw({ port: h.mail.ports.submissions, user: 'alice', pass: PASSWORD, mail: o.mail, rcpts: o.rcpts, raw: message({ from: SENDER, to: o.to, messageId: o.messageId }) });

  const delivered = async (id: string, count: number) => {
    await waitUntil(async () => {
      const rows = await h.recipients(id);
      return rows.length === count && rows.every((r) => r.status === 'delivered');
    }, `${count} recipients delivered`);
    return h.recipients(id);
  };

  it('each RCPT carries its own NOTIFY and ORCPT, RET and ENVID go on every MAIL; one pooled connection (RFC 3461 §4.1, §4.2, §5.2.1)', async () => {
    const messageId = '<split-1@mana.test>';
    const before = mxMailFroms.length;
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}> RET=HDRS ENVID=env-split-1`,
      rcpts: ['RCPT TO:<a@dest.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@orig.example', 'RCPT TO:<b@dest.example> NOTIFY=NEVER'],
      to: 'a@dest.example, b@dest.example',
      messageId,
    }));
    const rows = await delivered(id, 2);
    assert.deepEqual(rows.map((r) => [r.rcpt, r.status, r.attempts]), [['a@dest.example', 'delivered', 1], ['b@dest.example', 'delivered', 1]]);

    const got = transactionsOf(mx, messageId);
    assert.equal(got.length, 2, 'two transactions: the recipients differ in NOTIFY/ORCPT');
    assert.equal(mxMailFroms.length - before, 2, 'two MAIL FROM commands');
    const a = got.find((m) => m.rcptTo.includes('a@dest.example'));
    const b = got.find((m) => m.rcptTo.includes('b@dest.example'));
    assert.ok(a && b);
    assert.deepEqual(a.rcptTo, ['a@dest.example']);
    assert.deepEqual(a.rcptParams, [{ NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;a@orig.example' }]);
    assert.deepEqual(b.rcptTo, ['b@dest.example']);
    assert.deepEqual(b.rcptParams, [{ NOTIFY: 'NEVER' }], 'b has its own NOTIFY and no ORCPT of a');
    for (const m of [a, b]) {
      assert.equal(m.mailParams.RET, 'HDRS');
      assert.equal(m.mailParams.ENVID, 'env-split-1');
    }
    assert.equal(a.connectionId, b.connectionId, 'the second transaction reused the pooled connection');
  });

  it('recipients without NOTIFY and ORCPT go in one transaction, as before', async () => {
    const messageId = '<plain-1@mana.test>';
    const before = mxMailFroms.length;
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}>`,
      rcpts: ['RCPT TO:<c@dest.example>', 'RCPT TO:<d@dest.example>'],
      to: 'c@dest.example, d@dest.example',
      messageId,
    }));
    await delivered(id, 2);
    const got = transactionsOf(mx, messageId);
    assert.equal(got.length, 1);
    assert.equal(mxMailFroms.length - before, 1, 'one MAIL FROM');
    assert.deepEqual(got[0].rcptTo, ['c@dest.example', 'd@dest.example']);
    assert.deepEqual(got[0].rcptParams, [{}, {}]);
  });

  it('recipients with the same NOTIFY and no ORCPT share one transaction', async () => {
    const messageId = '<same-1@mana.test>';
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}> ENVID=env-same`,
      rcpts: ['RCPT TO:<e@dest.example> NOTIFY=FAILURE,DELAY', 'RCPT TO:<f@dest.example> NOTIFY=FAILURE,DELAY'],
      to: 'e@dest.example, f@dest.example',
      messageId,
    }));
    await delivered(id, 2);
    const got = transactionsOf(mx, messageId);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].rcptParams, [{ NOTIFY: 'FAILURE,DELAY' }, { NOTIFY: 'FAILURE,DELAY' }]);
    assert.equal(got[0].mailParams.ENVID, 'env-same');
  });

  it('ORCPT is passed on unchanged, xtext-encoded on the wire (RFC 3461 §4, §4.2)', async () => {
    const messageId = '<xtext-1@mana.test>';
    // "+" and "=" must travel as +2B and +3D; sent raw, the peer's decoder would turn "+AB" into the byte 0xAB.
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}>`,
      rcpts: ['RCPT TO:<g@dest.example> ORCPT=rfc822;Tag+2BAB+3D1@Orig.example'],
      to: 'g@dest.example',
      messageId,
    }));
    await delivered(id, 1);
    const [got] = transactionsOf(mx, messageId);
    assert.deepEqual(got.rcptParams, [{ ORCPT: 'rfc822;Tag+AB=1@Orig.example' }]);
  });

  it('a session-level deferral of one transaction sends only its recipients on to the next MX (RFC 5321 §5.1)', async () => {
    const messageId = '<failover-1@mana.test>';
    deferOnce.add('b@failover.example');
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}> ENVID=env-failover`,
      rcpts: ['RCPT TO:<a@failover.example> NOTIFY=FAILURE ORCPT=rfc822;a@orig.example', 'RCPT TO:<b@failover.example> NOTIFY=NEVER'],
      to: 'a@failover.example, b@failover.example',
      messageId,
    }));
    const rows = await delivered(id, 2);
    assert.deepEqual(rows.map((r) => r.attempts), [1, 1], 'both delivered in the first queue attempt');
    assert.equal(deferOnce.size, 0, 'the peer deferred b once');
    const got = transactionsOf(mx, messageId);
    assert.deepEqual(got.map((m) => m.rcptTo), [['a@failover.example'], ['b@failover.example']], 'a is not sent again with b');
    assert.deepEqual(got[1].rcptParams, [{ NOTIFY: 'NEVER' }]);
    const events = await h.events(id);
    const mxOf = (rcpt: string) => events.find((e) => e.type === 'delivered' && e.rcpt === rcpt)?.data.mx;
    assert.equal(mxOf('a@failover.example'), 'mx1.failover.example');
    assert.equal(mxOf('b@failover.example'), 'mx2.failover.example');
  });

  it('a smart host gets the same per-recipient parameters (RFC 3461 §5.2.1)', async () => {
    const messageId = '<relay-1@mana.test>';
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}> RET=FULL ENVID=env-relay`,
      rcpts: ['RCPT TO:<a@via-relay.example> NOTIFY=SUCCESS ORCPT=rfc822;a@orig.example', 'RCPT TO:<b@via-relay.example> NOTIFY=NEVER', 'RCPT TO:<c@via-relay.example> NOTIFY=SUCCESS ORCPT=rfc822;a@orig.example'],
      to: 'a@via-relay.example',
      messageId,
    }));
    const rows = await delivered(id, 3);
    assert.deepEqual(rows.map((r) => r.rcpt), ['a@via-relay.example', 'b@via-relay.example', 'c@via-relay.example']);
    const got = transactionsOf(relay, messageId);
    assert.deepEqual(got.map((m) => m.rcptTo), [['a@via-relay.example', 'c@via-relay.example'], ['b@via-relay.example']]);
    assert.deepEqual(got[0].rcptParams, [{ NOTIFY: 'SUCCESS', ORCPT: 'rfc822;a@orig.example' }, { NOTIFY: 'SUCCESS', ORCPT: 'rfc822;a@orig.example' }]);
    assert.deepEqual(got[1].rcptParams, [{ NOTIFY: 'NEVER' }]);
    for (const m of got) assert.deepEqual([m.mailParams.RET, m.mailParams.ENVID], ['FULL', 'env-relay']);
  });

  it('a next hop without DSN gets the remaining recipients in one transaction: it would see no NOTIFY/ORCPT anyway (RFC 3461 §5.2.2)', async () => {
    const messageId = '<nodsn-1@mana.test>';
    const id = queueIdOf(await submit({
      mail: `MAIL FROM:<${SENDER}>`,
      rcpts: ['RCPT TO:<a@no-dsn.example> NOTIFY=FAILURE', 'RCPT TO:<b@no-dsn.example> NOTIFY=NEVER', 'RCPT TO:<c@no-dsn.example> NOTIFY=FAILURE,DELAY'],
      to: 'a@no-dsn.example',
      messageId,
    }));
    await delivered(id, 3);
    const got = transactionsOf(plainRelay, messageId);
    assert.deepEqual(got.map((m) => m.rcptTo), [['a@no-dsn.example'], ['b@no-dsn.example', 'c@no-dsn.example']]);
    assert.deepEqual(got.flatMap((m) => m.rcptParams), [{}, {}, {}]);
  });
});
