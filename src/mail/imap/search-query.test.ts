// SEARCH criteria (RFC 3501 §6.4.4): the key limit and the per-message text shared by all keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matches, MAX_SEARCH_KEYS, parseSearch, SearchSyntaxError, type SearchSubject } from './search-query.ts';
import { parseImapMessage } from './message.ts';
import type { ImapToken } from './parser.ts';

const atoms = (words: string[]): ImapToken[] => words.map((value) => ({ type: 'atom', value }) as ImapToken);

describe('SEARCH criteria (RFC 3501 §6.4.4)', () => {
  it(`refuses more than ${MAX_SEARCH_KEYS} keys, nested ones counted`, () => {
    assert.doesNotThrow(() => parseSearch(atoms(Array(MAX_SEARCH_KEYS).fill('SEEN'))));
    assert.throws(() => parseSearch(atoms(Array(MAX_SEARCH_KEYS + 1).fill('SEEN'))), SearchSyntaxError);
    assert.throws(() => parseSearch(atoms(Array(MAX_SEARCH_KEYS).fill('SEEN').flatMap((k) => ['NOT', k]))), /too many search keys/);
  });

  it('lowercases the header and body once per message, shared by every key', () => {
    const message = parseImapMessage(Buffer.from('Subject: Hello World\r\nFrom: A <a@example.org>\r\n\r\nThe BODY text\r\n'));
    let bodyReads = 0;
    const counted = Object.create(message, { bodyText: { value: () => { bodyReads++; return message.bodyText(); } } });
    const subject: SearchSubject = { seq: 1, meta: { uid: 1, flags: [], internalDate: 0, size: 10 }, maxSeq: 1, maxUid: 1, message: counted };
    const query = parseSearch([...atoms(['BODY', 'body', 'BODY', 'TEXT', 'TEXT', 'hello', 'SUBJECT', 'WORLD'])]);
    assert.equal(matches(query, subject), true);
    assert.equal(bodyReads, 1);
    assert.equal(subject.lowered?.get('body'), message.bodyText().toLowerCase());
    assert.equal(matches(parseSearch(atoms(['BODY', 'absent'])), subject), false);
    assert.equal(bodyReads, 1, 'a second query on the same subject reuses the text');
  });
});
