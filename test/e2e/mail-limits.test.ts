// Message size limit (RFC 1870 §6.3) against a client that ignores it: a message many times the limit is refused with 552 5.3.4 and not held in memory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { DOMAIN, startMailHarness, type MailHarness } from './mail-harness.ts';

const MAX_SIZE = 64 * 1024;

describe('SMTP DATA larger than maxMessageSize', () => {
  let h: MailHarness;

  before(async () => {
    h = await startMailHarness({ mail: { maxMessageSize: MAX_SIZE } });
    await h.addUser('alice', 'alice-secret-2', [`alice@${DOMAIN}`]);
  });
  after(async () => {
    await h?.close();
  });

  it('refuses 5 MB sent without SIZE with 552 5.3.4 and stores nothing', async () => {
    const socket = connect(h.mail.ports.inbound, '127.0.0.1');
    socket.setEncoding('utf8');
    let got = '';
    socket.on('data', (d: string) => { got += d; });
    const waitFor = async (re: RegExp) => {
      const deadline = Date.now() + 15_000;
      while (!re.test(got)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const line = re.exec(got)![0];
      got = '';
      return line;
    };
    try {
      await waitFor(/^220 .*\r\n/m);
      socket.write('EHLO client.test\r\n');
      await waitFor(/^250 .*\r\n/m);
      socket.write('MAIL FROM:<big@elsewhere.example>\r\n');
      await waitFor(/^250 .*\r\n/m);
      socket.write(`RCPT TO:<alice@${DOMAIN}>\r\n`);
      await waitFor(/^250 .*\r\n/m);
      socket.write('DATA\r\n');
      await waitFor(/^354 .*\r\n/m);
      socket.write(`From: big@elsewhere.example\r\nTo: alice@${DOMAIN}\r\nSubject: big\r\n\r\n`);
      const block = Buffer.from(`${'a'.repeat(998)}\r\n`.repeat(1024)); // 1 MB
      for (let i = 0; i < 5; i++) await new Promise((r) => socket.write(block, r));
      socket.write('.\r\n');
      const reply = await waitFor(/^\d{3} .*\r\n/m);
      assert.match(reply, /^552 5\.3\.4 /);
    } finally {
      socket.destroy();
    }
    assert.deepEqual(await h.mailbox('alice'), []);
  });
});
