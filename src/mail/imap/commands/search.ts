// SEARCH and UID SEARCH, RFC 3501 §6.4.4 and §6.4.8: criteria from search-query.ts over the selected mailbox; US-ASCII and UTF-8 charsets.
import { parseImapMessage } from '../message.ts';
import { asText, type ImapToken } from '../parser.ts';
import { matches, needsContent, parseSearch, SearchSyntaxError } from '../search-query.ts';
import { bad, nextMessage, no, ok, type CommandSpec } from './types.ts';

function searcher(byUid: boolean): CommandSpec {
  const name = byUid ? 'UID SEARCH' : 'SEARCH';
  return {
    name,
    states: ['selected'],
    schema: ['rest'],
    expungesAfter: byUid,
    async handler(s, [rest]) {
      let tokens = rest as ImapToken[];
      if (tokens[0]?.type === 'atom' && tokens[0].value.toUpperCase() === 'CHARSET') {
        const charset = asText(tokens[1])?.toUpperCase();
        // RFC 3501 §6.4.4: an unknown charset is NO [BADCHARSET (supported ones)].
        if (charset !== 'UTF-8' && charset !== 'US-ASCII') return no('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
        tokens = tokens.slice(2);
      }
      let query;
      try {
        query = parseSearch(tokens);
      } catch (err) {
        if (err instanceof SearchSyntaxError) return bad(err.message);
        throw err;
      }
      const sel = s.selected!;
      const list = [...sel.messages];
      const content = needsContent(query);
      const maxUid = list.length ? list[list.length - 1].uid : 0;
      const hits: number[] = [];
      for (let i = 0; i < list.length; i++) {
        if (i > 0 && !(await nextMessage(s))) return ok(`${name} stopped, connection closed`);
        const meta = list[i];
        let message;
        if (content) {
          const raw = await s.store.raw(sel.ref.box, meta.uid);
          if (!raw) continue;
          message = parseImapMessage(raw);
        }
        if (matches(query, { seq: i + 1, meta, maxSeq: list.length, maxUid, message })) hits.push(byUid ? meta.uid : i + 1);
      }
      await s.send(`SEARCH${hits.length ? ' ' + hits.join(' ') : ''}`);
      return ok(`${name} completed`);
    },
  };
}

export const search = searcher(false);
export const uidSearch = searcher(true);
