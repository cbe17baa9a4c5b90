// Whole path: mail from the Internet on port 25 gets SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) checked through our resolver and an Authentication-Results stamp (RFC 8601); mail.inboundAuth = reject refuses a DMARC fail under p=reject.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import { openSession } from '../support/raw-smtp.ts';
import type { Zone } from '../support/dns-zone.ts';
import { DOMAIN, HOSTNAME, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';

const ALICE = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-inbound-auth';
const SENDER_DOMAIN = 'sender.example';
const SENDER = `bob@${SENDER_DOMAIN}`;
/** A domain whose DNS server never answers. */
const SLOW_DOMAIN = 'slow.example';
/** An Internet sender (not loopback 127.0.0.1, not in allowed-ip) that sender.example's SPF record lists. */
const AUTHORISED = '127.0.0.2';
/** An Internet sender that sender.example's SPF record does not list. */
const STRANGER = '127.0.0.4';
const SELECTOR = 'sel1';
const BOUND_MS = 1500;

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

const ZONE: Zone = {
  [SENDER_DOMAIN]: { TXT: ['v=spf1 ip4:127.0.0.2 -all'] },
  [`_dmarc.${SENDER_DOMAIN}`]: { TXT: ['v=DMARC1; p=reject'] },
  [`${SELECTOR}._domainkey.${SENDER_DOMAIN}`]: { TXT: [`v=DKIM1; k=rsa; p=${publicKey}`] },
  [SLOW_DOMAIN]: { drop: true },
  [`_dmarc.${SLOW_DOMAIN}`]: { drop: true },
};

let counter = 0;
/** A message from `from` to Alice with a Message-ID to find it by; extra header fields go on top. */
function letter(from: string, extra: string[] = []): { raw: string; messageId: string } {
  const messageId = `<inbound-auth-${++counter}-${Date.now()}@${from.split('@')[1]}>`;
  const body = message({ from: `Bob <${from}>`, to: ALICE, subject: `inbound auth ${counter}`, messageId });
  return { raw: [...extra, `Date: ${new Date().toUTCString()}`, body].join('\r\n'), messageId };
}

async function signed(raw: string): Promise<string> {
  const result = await dkimSign(raw, { canonicalization: 'relaxed/relaxed', signatureData: [{ signingDomain: SENDER_DOMAIN, selector: SELECTOR, privateKey }] } as Parameters<typeof dkimSign>[1]);
  assert.deepEqual(result.errors, []);
  assert.match(result.signatures, /^DKIM-Signature: /);
  return result.signatures + raw;
}

/** One transaction over a raw session; resolves with the reply to the data and the time it took. */
async function send(options: { port: number; localAddress?: string; tls?: boolean; auth?: boolean; mailFrom: string; raw: string }): Promise<{ reply: string; ms: number }> {
  const s = await openSession({ port: options.port, localAddress: options.localAddress, tls: options.tls });
  try {
    assert.match(await s.reply(), /^220 /);
    await s.command('EHLO client.sender.example', /^250/);
    if (options.auth) await s.command(`AUTH PLAIN ${Buffer.from(`\0alice\0${PASSWORD}`).toString('base64')}`, /^235 /);
    await s.command(`MAIL FROM:<${options.mailFrom}>`, /^250 /);
    await s.command(`RCPT TO:<${ALICE}>`, /^250 /);
    await s.command('DATA', /^354 /);
    const started = Date.now();
    await s.write(`${options.raw.replace(/\r\n$/, '')}\r\n.\r\n`);
    const reply = await s.reply();
    const ms = Date.now() - started;
    await s.write('QUIT\r\n');
    return { reply, ms };
  } finally {
    s.destroy();
  }
}

/** The header fields of a stored message, unfolded, in order. */
function fieldsOf(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head.split(/\r\n(?![ \t])/).map((f) => f.replace(/\r\n[ \t]+/g, ' '));
}

const ours = (f: string) => new RegExp(`^Authentication-Results:\\s*${HOSTNAME.replace(/\./g, '\\.')}\\s*;`, 'i').test(f);

async function stored(h: MailHarness, messageId: string): Promise<string[]> {
  const m = await waitUntil(async () => (await h.mailbox('alice')).find((x) => x.raw.includes(messageId)), `local delivery of ${messageId}`);
  return fieldsOf(m.raw);
}

/** The top field must be our stamp, the only one with our authserv-id; returns it. */
function stamp(fields: string[]): string {
  assert.ok(ours(fields[0]), `the topmost field is our Authentication-Results: ${fields[0]}`);
  assert.equal(fields.filter(ours).length, 1, 'one Authentication-Results field with our authserv-id');
  assert.match(fields[1], /^Received: from client\.sender\.example/, 'our Received field follows it');
  return fields[0];
}

describe('inbound authentication, mail.inboundAuth = record', () => {
  let h: MailHarness;
  before(async () => {
    h = await startMailHarness({ zone: ZONE });
    await h.addUser('alice', PASSWORD, [ALICE]);
  });
  after(async () => {
    await h?.close();
  });

  it('a message from an IP the SPF record does not list, unsigned, is stored with spf=fail, dkim=none, dmarc=fail (RFC 7489 §6.6.2)', async () => {
    const { raw, messageId } = letter(SENDER);
    const { reply } = await send({ port: h.mail.ports.inbound, localAddress: STRANGER, mailFrom: SENDER, raw });
    assert.match(reply, /^250 /);
    const ar = stamp(await stored(h, messageId));
    assert.match(ar, /\bspf=fail\b.*smtp\.mailfrom=bob@sender\.example/);
    assert.match(ar, /\bdkim=none\b/);
    assert.match(ar, /\bdmarc=fail\b.*header\.from=sender\.example/);
    const received = (await h.events(h.queueIdOf(reply))).find((e) => e.type === 'received');
    assert.deepEqual({ spf: received?.data.spf, dkim: received?.data.dkim, dmarc: received?.data.dmarc }, { spf: 'fail', dkim: 'none', dmarc: 'fail' }, 'the results are on the timeline');
  });

  it('an Authentication-Results field with our authserv-id that came with the message is removed; others stay (RFC 8601 §5)', async () => {
    const forged = [
      `Authentication-Results: ${HOSTNAME}; dmarc=pass (forged-1) header.from=${SENDER_DOMAIN}`,
      `Authentication-Results: (a comment) ${HOSTNAME.toUpperCase()}.;\r\n dkim=pass (forged-2) header.d=${SENDER_DOMAIN}`,
      `Authentication-Results: "${HOSTNAME}" 1; spf=pass (forged-3)`,
      'Authentication-Results: mx.other.example; spf=pass (kept) smtp.mailfrom=bob@sender.example',
    ];
    const { raw, messageId } = letter(SENDER, forged);
    const { reply } = await send({ port: h.mail.ports.inbound, localAddress: STRANGER, mailFrom: SENDER, raw });
    assert.match(reply, /^250 /);
    const fields = await stored(h, messageId);
    const ar = stamp(fields);
    assert.match(ar, /\bdmarc=fail\b/, 'our own verdict, not the forged pass');
    assert.doesNotMatch(fields.join('\n'), /forged-/, 'no forged field is left');
    assert.ok(fields.some((f) => /^Authentication-Results: mx\.other\.example; spf=pass \(kept\)/.test(f)), 'the field of another authserv-id is kept');
  });

  it('submission with AUTH on ports 587 and 465 and a trusted loopback relay on port 25 get no stamp', async () => {
    const viaSubmission = letter(ALICE);
    await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: [ALICE], raw: viaSubmission.raw });
    const viaSubmissions = letter(ALICE);
    assert.match((await send({ port: h.mail.ports.submissions, tls: true, auth: true, mailFrom: ALICE, raw: viaSubmissions.raw })).reply, /^250 /);
    const viaLoopback = letter(SENDER, [`Authentication-Results: ${HOSTNAME}; dmarc=pass (relayed)`]);
    assert.match((await send({ port: h.mail.ports.inbound, mailFrom: SENDER, raw: viaLoopback.raw })).reply, /^250 /);
    for (const { messageId } of [viaSubmission, viaSubmissions]) {
      const fields = await stored(h, messageId);
      assert.deepEqual(fields.filter((f) => /^Authentication-Results:/i.test(f)), [], `no Authentication-Results on ${messageId}`);
    }
    const relayed = await stored(h, viaLoopback.messageId);
    assert.match(relayed[0], /^Received: /, 'nothing above our Received field');
    assert.deepEqual(relayed.filter((f) => /^Authentication-Results:/i.test(f)), [`Authentication-Results: ${HOSTNAME}; dmarc=pass (relayed)`], 'a trusted relay\'s message is passed as it is');
  });
});

describe('inbound authentication, mail.inboundAuth = reject', () => {
  let h: MailHarness;
  before(async () => {
    h = await startMailHarness({ zone: ZONE, mail: { inboundAuth: 'reject' }, mailOptions: { inboundAuthTimeoutMs: BOUND_MS } });
    await h.addUser('alice', PASSWORD, [ALICE]);
  });
  after(async () => {
    await h?.close();
  });

  it('a message with SPF pass and a valid DKIM signature of a p=reject domain is stored with spf=pass, dkim=pass, dmarc=pass on top', async () => {
    const { raw, messageId } = letter(SENDER);
    const { reply } = await send({ port: h.mail.ports.inbound, localAddress: AUTHORISED, mailFrom: SENDER, raw: await signed(raw) });
    assert.match(reply, /^250 /);
    const ar = stamp(await stored(h, messageId));
    assert.match(ar, /\bspf=pass\b.*smtp\.mailfrom=bob@sender\.example/);
    assert.match(ar, /\bdkim=pass\b.*header\.[di]=@?sender\.example/);
    assert.match(ar, /\bdmarc=pass\b.*header\.from=sender\.example/);
    assert.ok(h.zone.queries.some((q) => q.name === `${SELECTOR}._domainkey.${SENDER_DOMAIN}` && q.type === 'TXT'), 'the DKIM key was looked up through our resolver');
  });

  it('a DMARC fail of a p=reject domain is refused with 550 5.7.1 and nothing is stored (RFC 7489 §6.6.3)', async () => {
    const { raw, messageId } = letter(SENDER);
    const { reply } = await send({ port: h.mail.ports.inbound, localAddress: STRANGER, mailFrom: SENDER, raw });
    assert.match(reply, /^550 5\.7\.1 DMARC policy of sender\.example says reject: /);
    const rows = await h.store.all('SELECT id FROM mail_messages WHERE header_message_id = ?', [messageId]);
    assert.deepEqual(rows, [], 'nothing queued');
    assert.equal((await h.mailbox('alice')).filter((m) => m.raw.includes(messageId)).length, 0, 'nothing in the mailbox');
  });

  it(`a domain whose DNS server does not answer is accepted with temperror within the bound of ${BOUND_MS} ms`, async () => {
    const from = `carol@${SLOW_DOMAIN}`;
    const { raw, messageId } = letter(from);
    const { reply, ms } = await send({ port: h.mail.ports.inbound, localAddress: STRANGER, mailFrom: from, raw });
    assert.match(reply, /^250 /, 'temperror is accepted, even under reject');
    assert.ok(ms < BOUND_MS + 1500, `answered in ${ms} ms`);
    const ar = stamp(await stored(h, messageId));
    assert.match(ar, /\bspf=temperror\b/);
    assert.match(ar, /\bdkim=none\b/);
    assert.match(ar, /\bdmarc=temperror\b/);
    assert.ok(h.zone.queries.some((q) => q.name === SLOW_DOMAIN && q.type === 'TXT'), 'the SPF record was asked of our DNS server');
  });
});
