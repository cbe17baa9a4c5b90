// Tests for the throwaway Postfix instance helper (RFC 5321 delivery as MX and as relay).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { postconfDefault, startPostfix } from './postfix.ts';
import type { PostfixInstance } from './postfix.ts';
import { startSmtpPeer } from './smtp-peer.ts';
import type { SmtpPeer } from './smtp-peer.ts';

const running: { stop?: () => Promise<void>; close?: () => Promise<void> }[] = [];
after(() => Promise.all(running.map((r) => (r.stop ?? r.close)?.())));

async function send(port: number, mail: object): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail(mail);
  } finally {
    transport.close();
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('test/support/postfix', () => {
  it('postconfDefault answers for known parameter names only', async () => {
    assert.equal(await postconfDefault('smtpd_peername_lookup'), 'yes');
    assert.equal(await postconfDefault('no_such_parameter_x'), undefined);
  });

  it('mx and relay instances run side by side; mx stores mail for its domain, relay forwards to its relay host', async () => {
    const peer: SmtpPeer = await startSmtpPeer({ tls: 'none' });
    running.push(peer);
    const [mx, relay]: PostfixInstance[] = await Promise.all([
      startPostfix({ mode: 'mx', domain: 'example.com' }),
      startPostfix({ mode: 'relay', relayhost: `127.0.0.1:${peer.port}` }),
    ]);
    running.push(mx, relay);
    assert.notEqual(mx.port, relay.port);
    assert.notEqual(mx.dir, relay.dir);
    for (const instance of [mx, relay]) {
      // every main.cf name we wrote is one this Postfix version uses
      const check = spawnSync('/usr/sbin/postconf', ['-c', join(instance.dir, 'conf'), '-n'], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(check.status, 0);
      assert.doesNotMatch(check.stderr, /unused parameter|unknown parameter/);
    }

    await send(mx.port, {
      from: 'sender@example.org',
      to: 'anyone@example.com',
      subject: 'to the mx',
      text: 'body one',
      messageId: '<mx-1@example.org>',
    });
    const [stored] = await mx.waitForMessages(1, 15_000);
    const text = stored.toString();
    assert.match(text, /^Delivered-To: anyone@example\.com$/m);
    assert.match(text, /^Message-ID: <mx-1@example\.org>$/im);
    assert.match(text, /body one/);
    await mx.waitForLog(/status=sent \(delivered to maildir\)/, 5000);

    // The MX is not an open relay (RFC 5321 §3.6.2 / reject_unauth_destination).
    await assert.rejects(
      send(mx.port, { from: 'sender@example.org', to: 'x@elsewhere.test', subject: 's', text: 't' }),
      (err: Error & { responseCode?: number }) => err.responseCode === 554 || err.responseCode === 454,
    );

    await send(relay.port, {
      from: 'sender@example.org',
      to: 'someone@far.test',
      subject: 'through the relay',
      text: 'body two',
    });
    const [relayed] = await peer.waitFor(1, 15_000);
    assert.equal(relayed.mailFrom, 'sender@example.org');
    assert.deepEqual(relayed.rcptTo, ['someone@far.test']);
    assert.match(relayed.raw.toString(), /by relay\.test \(Postfix\)/);
    await relay.waitForLog(/status=sent/, 5000);

    await Promise.all([mx.stop(), relay.stop()]);
    assert.equal(existsSync(mx.dir), false);
    assert.equal(existsSync(relay.dir), false);
    assert.equal(await refused(mx.port), true);
    assert.equal(await refused(relay.port), true);
  });

  it('an instance left running by a test process that exits is stopped by the exit hook', async () => {
    const script = `
      import { startPostfix } from ${JSON.stringify(new URL('./postfix.ts', import.meta.url).href)};
      const pf = await startPostfix({ mode: 'relay', relayhost: '127.0.0.1:9' });
      console.log(JSON.stringify({ port: pf.port, dir: pf.dir }));
      process.exit(0);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr);
    const { port, dir } = JSON.parse(child.stdout) as { port: number; dir: string };
    assert.equal(existsSync(dir), false);
    assert.equal(await refused(port), true);
  });

  it('messages() is refused in relay mode', async () => {
    const relay = await startPostfix({ mode: 'relay', relayhost: '[127.0.0.1]:9' });
    running.push(relay);
    await assert.rejects(relay.messages(), { code: 'test.postfix_wrong_mode' });
    await relay.stop();
  });
});
