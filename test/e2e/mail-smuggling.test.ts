// Whole path: SMTP smuggling (CVE-2023-51764/51765/51766) never splits one message into two: only <CR><LF>.<CR><LF> ends DATA (RFC 5321 §4.1.1.4), and a bare <CR> or <LF> refuses the whole message (RFC 5321 §2.3.8).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSession } from '../support/raw-smtp.ts';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { DOMAIN, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';

const VICTIM = `victim@${DOMAIN}`;
const ALICE = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-smuggling';
/** Not trusted: an Internet sender on port 25 (127.0.0.1 and server.allowed-ip may relay). */
const OUTSIDER = '127.0.0.2';
/** In server.allowed-ip: relays to remote domains without AUTH. */
const RELAY_CLIENT = '127.0.0.3';

/** The fake ends of data of the 2023 SMTP smuggling research; none is <CR><LF>.<CR><LF>. */
const FAKE_ENDS: Array<{ name: string; seq: string }> = [
  { name: '<LF>.<LF>', seq: '\n.\n' },
  { name: '<LF>.<CR><LF>', seq: '\n.\r\n' },
  { name: '<CR><LF>.<LF>', seq: '\r\n.\n' },
  { name: '<CR>.<CR>', seq: '\r.\r' },
  { name: '<CR>.<CR><LF>', seq: '\r.\r\n' },
  { name: '<CR><LF>.<CR> followed by other bytes', seq: '\r\n.\r' },
  { name: '<LF>.<CR>', seq: '\n.\r' },
];

/** How the payload reaches the server: one write, or two TCP segments split right after the fake end. */
const SEGMENTATIONS = ['one write', 'split after the fake end'] as const;
type Segmentation = (typeof SEGMENTATIONS)[number];

/**
 * One transaction whose DATA carries `content` and then the real <CR><LF>.<CR><LF>, with QUIT pipelined behind it
 * (RFC 2920). `splitAt` sends the content as two TCP segments. Resolves with every reply after the 354.
 */
async function transaction(options: {
  port: number;
  tls?: boolean;
  localAddress?: string;
  auth?: { user: string; pass: string };
  mailFrom: string;
  rcpt: string;
  content: string;
  splitAt?: number;
}): Promise<string[]> {
  const s = await openSession(options);
  try {
    assert.match(await s.reply(), /^220 /);
    await s.command('EHLO client.test', /^250/);
    if (options.auth) await s.command(`AUTH PLAIN ${Buffer.from(`\0${options.auth.user}\0${options.auth.pass}`).toString('base64')}`, /^235 /);
    await s.command(`MAIL FROM:<${options.mailFrom}>`, /^250 /);
    await s.command(`RCPT TO:<${options.rcpt}>`, /^250 /);
    await s.command('DATA', /^354 /);
    const wire = `${options.content}\r\n.\r\nQUIT\r\n`;
    if (options.splitAt === undefined) await s.write(wire);
    else {
      await s.write(wire.slice(0, options.splitAt));
      await new Promise((r) => setTimeout(r, 50));
      await s.write(wire.slice(options.splitAt));
    }
    return await s.rest();
  } finally {
    s.destroy();
  }
}

/** A message whose body hides, behind `fakeEnd`, a whole second transaction from spoof-<tag>@evil.example. */
function smuggling(o: { from: string; to: string; tag: string; fakeEnd: string; smuggledTo: string }): { content: string; splitAt: number } {
  const before = [`From: <${o.from}>`, `To: <${o.to}>`, `Subject: carrier ${o.tag}`, `Message-ID: <carrier-${o.tag}@client.test>`, '', `Carrier body ${o.tag}.`].join('\r\n');
  const smuggled = [
    `MAIL FROM:<spoof-${o.tag}@evil.example>`,
    `RCPT TO:<${o.smuggledTo}>`,
    'DATA',
    `From: <spoof-${o.tag}@evil.example>`,
    `To: <${o.smuggledTo}>`,
    `Subject: smuggled ${o.tag}`,
    '',
    `Smuggled body ${o.tag}.`,
  ].join('\r\n');
  const content = `${before}${o.fakeEnd}${smuggled}`;
  return { content, splitAt: before.length + o.fakeEnd.length };
}

const tagOf = (name: string, segmentation: Segmentation) =>
  `${name.replace(/<CR>/g, 'cr').replace(/<LF>/g, 'lf').replace(/[^a-z]+/g, '')}-${segmentation === 'one write' ? 'one' : 'split'}`;

/**
 * The replies after the 354 of a session that sent one DATA and QUIT: if the server split the data, the smuggled
 * MAIL, RCPT and DATA each got a reply of their own. One transaction means: one final reply for the message, then 221.
 */
function assertOneTransaction(replies: string[]): string {
  assert.equal(replies.length, 2, `one reply for the message, one for QUIT; got ${JSON.stringify(replies)}`);
  const [final, quit] = replies;
  assert.match(quit, /^221 /, JSON.stringify(replies));
  assert.match(final, /^(250|5\d\d) /, `the message is wholly accepted or wholly refused: ${final}`);
  return final;
}

describe('SMTP smuggling on the inbound port 25 (RFC 5321 §4.1.1.4: the end of data is <CR><LF>.<CR><LF> only)', () => {
  let peer: SmtpPeer;
  let h: MailHarness;
  const queued = async (): Promise<number> =>
    Number((await h.store.get<{ n: number | string }>("SELECT COUNT(*) AS n FROM mail_messages WHERE source IN ('inbound', 'submission')"))!.n);
  /** Queue and mailbox rows whose envelope sender is spoof-<tag>@evil.example. */
  const spoofed = async (tag: string) => ({
    queue: await h.store.all<{ id: string }>('SELECT id FROM mail_messages WHERE mail_from = ?', [`spoof-${tag}@evil.example`]),
    mailbox: await h.store.all<{ id: number }>('SELECT id FROM mail_mailbox WHERE mail_from = ?', [`spoof-${tag}@evil.example`]),
  });

  before(async () => {
    peer = await startSmtpPeer();
    h = await startMailHarness({
      zone: { 'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] }, 'mx.example.org': { A: ['127.0.0.1'] } },
      mail: { mxPort: peer.port, allowedIp: [`${RELAY_CLIENT}/32`] },
    });
    await h.addUser('victim', 'victim-secret-smuggling', [VICTIM]);
  });
  after(async () => {
    await h?.close();
    await peer?.close();
  });

  for (const { name, seq } of FAKE_ENDS) {
    for (const segmentation of SEGMENTATIONS) {
      it(`${name} (${segmentation}) does not end the data; the message with its bare line break is refused whole with 554 5.5.2 (RFC 5321 §2.3.8)`, async () => {
        const tag = tagOf(name, segmentation);
        const { content, splitAt } = smuggling({ from: 'sender@elsewhere.example', to: VICTIM, tag, fakeEnd: seq, smuggledTo: VICTIM });
        const queuedBefore = await queued();
        const mailboxBefore = (await h.mailbox('victim')).length;
        const replies = await transaction({
          port: h.mail.ports.inbound, localAddress: OUTSIDER, mailFrom: 'sender@elsewhere.example', rcpt: VICTIM, content,
          splitAt: segmentation === 'one write' ? undefined : splitAt,
        });
        const final = assertOneTransaction(replies);
        assert.match(final, /^554 5\.5\.2 .*bare <(CR|LF)>/, 'refused, and the reply says what to fix');
        assert.equal(await queued(), queuedBefore, 'nothing was queued for this session');
        assert.equal((await h.mailbox('victim')).length, mailboxBefore, 'nothing reached the mailbox');
        assert.deepEqual(await spoofed(tag), { queue: [], mailbox: [] }, `no message from spoof-${tag}@evil.example`);
      });
    }
  }

  it('control: the same payload with a real <CR><LF>.<CR><LF> is two transactions, and the checks above would see it (RFC 2920 pipelining)', async () => {
    const { content, splitAt } = smuggling({ from: 'sender@elsewhere.example', to: VICTIM, tag: 'control', fakeEnd: '\r\n.\r\n', smuggledTo: VICTIM });
    const queuedBefore = await queued();
    const replies = await transaction({
      port: h.mail.ports.inbound, localAddress: OUTSIDER, mailFrom: 'sender@elsewhere.example', rcpt: VICTIM, content: content.replaceAll('spoof-control', 'second-control'), splitAt,
    });
    assert.equal(replies.filter((r) => /^250 /.test(r)).length, 4, `250 for the first message, MAIL and RCPT, then 354 and 250 for the second: ${JSON.stringify(replies)}`);
    assert.ok(replies.some((r) => /^354 /.test(r)));
    assert.throws(() => assertOneTransaction(replies));
    assert.equal(await queued(), queuedBefore + 2);
  });

  it('text that looks like a second transaction, dot-stuffed (RFC 5321 §4.5.2), is one message: stored as content in the local mailbox', async () => {
    const content = [
      'From: <sender@elsewhere.example>', `To: <${VICTIM}>`, 'Subject: stuffed', '',
      'Before.', '..', `MAIL FROM:<spoof-stuffed@evil.example>`, `RCPT TO:<${VICTIM}>`, 'DATA', 'Smuggled as text.', '..', 'After.',
    ].join('\r\n');
    const queuedBefore = await queued();
    const replies = await transaction({ port: h.mail.ports.inbound, localAddress: OUTSIDER, mailFrom: 'sender@elsewhere.example', rcpt: VICTIM, content });
    const final = assertOneTransaction(replies);
    assert.match(final, /^250 /);
    assert.equal(await queued(), queuedBefore + 1, 'one message queued');
    const queueId = h.queueIdOf(final);
    await waitUntil(async () => (await h.mailbox('victim')).some((m) => m.queueId === queueId), 'local delivery');
    const box = (await h.mailbox('victim')).filter((m) => m.queueId === queueId);
    assert.equal(box.length, 1, 'one message in the mailbox');
    const raw = box[0].raw.toString('latin1');
    assert.equal(box[0].mailFrom, 'sender@elsewhere.example');
    assert.ok(raw.includes(`\r\nBefore.\r\n.\r\nMAIL FROM:<spoof-stuffed@evil.example>\r\nRCPT TO:<${VICTIM}>\r\nDATA\r\nSmuggled as text.\r\n.\r\nAfter.\r\n`), raw);
    assert.deepEqual(await spoofed('stuffed'), { queue: [], mailbox: [] });
  });

  it('relayed onward (server.allowed-ip to an MX), the "." lines are stuffed again: the next hop gets one message with the text as content (RFC 5321 §4.5.2)', async () => {
    const to = 'relayed@example.org';
    const content = [
      `From: <${ALICE}>`, `To: <${to}>`, 'Subject: relayed stuffed', 'Message-ID: <relayed-stuffed@client.test>', '',
      'Before.', '..', `MAIL FROM:<spoof-relayed@evil.example>`, `RCPT TO:<${to}>`, 'DATA', 'Smuggled as text.', '..', 'After.',
    ].join('\r\n');
    const replies = await transaction({ port: h.mail.ports.inbound, localAddress: RELAY_CLIENT, mailFrom: ALICE, rcpt: to, content });
    assert.match(assertOneTransaction(replies), /^250 /);
    await waitUntil(() => peer.messages.some((m) => m.rcptTo.includes(to)), 'delivery to the next hop');
    await new Promise((r) => setTimeout(r, 200)); // a split would deliver a second transaction right behind the first
    const got = peer.messages.filter((m) => m.rcptTo.includes(to));
    assert.equal(got.length, 1, `one message at the next hop: ${JSON.stringify(got.map((m) => m.mailFrom))}`);
    assert.equal(got[0].mailFrom, ALICE);
    assert.deepEqual(got[0].rcptTo, [to]);
    assert.ok(got[0].raw.toString('latin1').includes(`\r\nBefore.\r\n.\r\nMAIL FROM:<spoof-relayed@evil.example>\r\nRCPT TO:<${to}>\r\nDATA\r\nSmuggled as text.\r\n.\r\nAfter.\r\n`));
    assert.ok(!peer.messages.some((m) => m.mailFrom.startsWith('spoof-')), 'the next hop saw no transaction from spoof-*');
  });
});

describe('SMTP smuggling on submission over implicit TLS (RFC 8314) with AUTH PLAIN: nothing with a fake end of data is passed on', () => {
  let peer: SmtpPeer;
  let h: MailHarness;
  const queued = async (): Promise<number> =>
    Number((await h.store.get<{ n: number | string }>("SELECT COUNT(*) AS n FROM mail_messages WHERE source = 'submission'"))!.n);

  before(async () => {
    peer = await startSmtpPeer();
    h = await startMailHarness({
      zone: { 'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] }, 'mx.example.org': { A: ['127.0.0.1'] } },
      mail: { mxPort: peer.port },
    });
    await h.addUser('alice', PASSWORD, [ALICE]);
  });
  after(async () => {
    await h?.close();
    await peer?.close();
  });

  for (const { name, seq } of FAKE_ENDS) {
    for (const segmentation of SEGMENTATIONS) {
      it(`${name} (${segmentation}) is refused whole with 554 5.5.2 and nothing reaches the next hop`, async () => {
        const tag = tagOf(name, segmentation);
        const to = `rcpt-${tag}@example.org`;
        const { content, splitAt } = smuggling({ from: ALICE, to, tag, fakeEnd: seq, smuggledTo: to });
        const queuedBefore = await queued();
        const replies = await transaction({
          port: h.mail.ports.submissions, tls: true, auth: { user: 'alice', pass: PASSWORD }, mailFrom: ALICE, rcpt: to, content,
          splitAt: segmentation === 'one write' ? undefined : splitAt,
        });
        const final = assertOneTransaction(replies);
        assert.match(final, /^554 5\.5\.2 .*bare <(CR|LF)>/);
        assert.equal(await queued(), queuedBefore, 'nothing was queued');
      });
    }
  }

  it('the dot-stuffed text of a second transaction is submitted and relayed as one message, the text intact (RFC 5321 §4.5.2)', async () => {
    const to = 'stuffed@example.org';
    const content = [
      `From: <${ALICE}>`, `To: <${to}>`, 'Subject: submitted stuffed', 'Message-ID: <submitted-stuffed@client.test>', '',
      'Before.', '..', `MAIL FROM:<spoof-submitted@evil.example>`, `RCPT TO:<${to}>`, 'DATA', 'Smuggled as text.', '..', 'After.',
    ].join('\r\n');
    const replies = await transaction({ port: h.mail.ports.submissions, tls: true, auth: { user: 'alice', pass: PASSWORD }, mailFrom: ALICE, rcpt: to, content });
    assert.match(assertOneTransaction(replies), /^250 /);
    await waitUntil(() => peer.messages.some((m) => m.rcptTo.includes(to)), 'delivery to the next hop');
    await new Promise((r) => setTimeout(r, 200));
    const mine = peer.messages.filter((m) => m.rcptTo.includes(to));
    assert.equal(mine.length, 1, 'this message arrived once');
    assert.equal(mine[0].mailFrom, ALICE);
    assert.ok(!peer.messages.some((m) => m.rcptTo.some((r) => r.startsWith('rcpt-'))), 'nothing refused above reached the next hop');
    assert.ok(mine[0].raw.toString('latin1').includes(`\r\nBefore.\r\n.\r\nMAIL FROM:<spoof-submitted@evil.example>\r\nRCPT TO:<${to}>\r\nDATA\r\nSmuggled as text.\r\n.\r\nAfter.\r\n`));
    assert.ok(!peer.messages.some((m) => m.mailFrom.startsWith('spoof-')));
  });
});
