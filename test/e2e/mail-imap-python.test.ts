// IMAP (RFC 3501) against a second real client: Python's imaplib (/usr/bin/python3), over STARTTLS on the plain port and implicit TLS.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { startMailHarness, message, waitUntil, DOMAIN, type MailHarness } from './mail-harness.ts';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const USER = 'pyreader';
const PASS = 'pyreader-password-1';
const ADDR = `${USER}@${DOMAIN}`;

/** The client session: every step's answer as JSON, so the test asserts on what imaplib saw. */
const SCRIPT = String.raw`
import imaplib, json, ssl, sys
port, plain_port, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
out = {}
def s(v):
    return v.decode('latin1') if isinstance(v, bytes) else v
# Plain port: STARTTLS, then LOGIN (RFC 3501 §6.2.1).
p = imaplib.IMAP4('127.0.0.1', plain_port)
out['plain_caps'] = list(p.capabilities)
out['starttls'] = p.starttls(ssl_context=ctx)[0]
out['plain_login'] = p.login(user, password)[0]
p.logout()
m = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
out['login'] = m.login(user, password)[0]
typ, data = m.list()
out['list'] = [s(x) for x in data]
typ, data = m.select('INBOX')
out['exists'] = int(data[0])
typ, data = m.uid('SEARCH', None, 'UNSEEN', 'SUBJECT', 'python')
out['unseen_python'] = s(data[0]).split()
uid = out['unseen_python'][0]
typ, data = m.uid('FETCH', uid, '(FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.5>)')
out['fetch'] = [[s(y) for y in x] if isinstance(x, tuple) else s(x) for x in data]
typ, data = m.uid('FETCH', uid, '(BODY[])')
out['full'] = s(data[0][1])
typ, data = m.uid('FETCH', uid, '(FLAGS)')
out['flags_after_read'] = s(data[0])
out['store'] = s(m.uid('STORE', uid, '+FLAGS', r'(\Flagged)')[1][0])
msg = b'From: ' + user.encode() + b'@mana.test\r\nTo: ' + user.encode() + b'@mana.test\r\nSubject: appended by imaplib\r\n\r\nAppended body.\r\n'
typ, data = m.append('INBOX', r'(\Seen)', imaplib.Time2Internaldate(1767225600), msg)
out['append'] = [typ, s(data[0])]
typ, data = m.search(None, 'SUBJECT', '"appended by imaplib"')
out['search_appended'] = s(data[0]).split()
typ, data = m.fetch(out['search_appended'][0], '(FLAGS INTERNALDATE)')
out['appended_meta'] = s(data[0])
m.store(out['search_appended'][0], '+FLAGS', r'(\Deleted)')
typ, data = m.expunge()
out['expunged'] = [s(x) for x in data if x]
typ, data = m.status('INBOX', '(MESSAGES UNSEEN)')
out['status'] = s(data[0])
m.close(); m.logout()
print(json.dumps(out))
`;

describe('IMAP with Python imaplib', { skip: existsSync(PYTHON) ? false : `${PYTHON} is not installed` }, () => {
  let h: MailHarness;
  let raw: string;
  before(async () => {
    h = await startMailHarness({});
    await h.addUser(USER, PASS, [ADDR]);
    raw = message({ from: ADDR, to: ADDR, subject: 'Hello from python test', body: 'Hello imaplib.\r\nSecond line.', messageId: `<python-imap@${DOMAIN}>` });
    await h.submit({ user: USER, pass: PASS, from: ADDR, to: [ADDR], raw });
    await waitUntil(async () => (await h.mailbox(USER)).length > 0, 'local delivery');
  });
  after(async () => h?.close());

  it('logs in (STARTTLS and implicit TLS), lists, searches, fetches, flags, appends and expunges', async () => {
    const { stdout } = await run(PYTHON, ['-c', SCRIPT, String(h.mail.ports.imaps), String(h.mail.ports.imap), USER, PASS], { timeout: 30_000 });
    const out = JSON.parse(stdout) as Record<string, any>;
    assert.ok(out.plain_caps.includes('STARTTLS') && out.plain_caps.includes('LOGINDISABLED'), `plain port capabilities: ${out.plain_caps}`);
    assert.equal(out.starttls, 'OK');
    assert.equal(out.plain_login, 'OK');
    assert.equal(out.login, 'OK');
    assert.ok(out.list.some((l: string) => /\) "[^"]*" "?INBOX"?$/.test(l)), `LIST: ${out.list}`);
    assert.equal(out.exists, 1);
    assert.equal(out.unseen_python.length, 1);

    const fetched = (out.fetch as Array<string | string[]>).flat().join('');
    assert.match(fetched, /FLAGS \(\)/, 'not seen yet: BODY.PEEK does not set \\Seen');
    const stored = (await h.mailbox(USER))[0].raw;
    assert.match(fetched, new RegExp(`RFC822\\.SIZE ${stored.length}\\b`));
    assert.match(fetched, /ENVELOPE \("[^"]+" "Hello from python test" \(\(NIL NIL "pyreader" "mana\.test"\)\)/);
    assert.match(fetched, /BODYSTRUCTURE \("TEXT" "PLAIN" \("CHARSET" "[^"]+"\)/i);
    assert.match(fetched, /Subject: Hello from python test/);
    assert.match(fetched, /BODY\[TEXT\]<0> \{5\}/, 'a partial fetch of 5 octets');

    assert.equal(out.full, stored.toString('latin1'), 'BODY[] is the stored message, byte for byte');
    assert.match(out.flags_after_read, /\\Seen/, 'BODY[] sets \\Seen (RFC 3501 §6.4.5)');
    assert.match(out.store, /\\Flagged/);
    assert.equal(out.append[0], 'OK');
    assert.match(out.append[1], /APPENDUID \d+ \d+/, 'UIDPLUS (RFC 4315)');
    assert.equal(out.search_appended.length, 1);
    assert.match(out.appended_meta, /\\Seen/);
    assert.match(out.appended_meta, /INTERNALDATE "01-Jan-2026/);
    assert.deepEqual(out.expunged, [out.search_appended[0]]);
    assert.match(out.status, /MESSAGES 1 UNSEEN 0/);
  });
});
