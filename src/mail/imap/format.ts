// Pieces of IMAP responses (RFC 3501 §7): flag lists, date-time, quoted strings, and the IMAP date forms SEARCH and APPEND take.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function flagList(flags: string[]): string {
  return `(${flags.join(' ')})`;
}

/** RFC 3501 §9 date-time: "17-Jul-1996 02:44:25 +0000" (kept in UTC). */
export function internalDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/** A quoted string for short 7-bit text without CR/LF (mailbox names, response texts). */
export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** RFC 3501 §9 date ("1-Feb-1994"), for SEARCH: midnight UTC of that day, or undefined. */
export function parseSearchDate(s: string): number | undefined {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  if (!m) return undefined;
  const month = MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase());
  if (month < 0) return undefined;
  const t = Date.UTC(Number(m[3]), month, Number(m[1]));
  return new Date(t).getUTCDate() === Number(m[1]) ? t : undefined;
}

/** RFC 3501 §9 date-time ("17-Jul-1996 02:44:25 -0700", day may be space-padded), for APPEND. */
export function parseDateTime(s: string): number | undefined {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const month = MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase());
  if (month < 0) return undefined;
  const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  const t = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset;
  return Number.isFinite(t) ? t : undefined;
}

/** Midnight UTC of the day `ms` falls on: SEARCH dates disregard time and timezone (RFC 3501 §6.4.4). */
export function dayOf(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}
