// `mana doctor`: IP addresses: loopback, this machine, IPv6 text forms compared (RFC 4291 §2.2, RFC 5952) and reverse-lookup names (RFC 1035 §3.5, RFC 3596 §2.5).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

const LOOPBACK = (() => {
  const b = new BlockList();
  b.addSubnet('127.0.0.0', 8, 'ipv4');
  b.addAddress('::1', 'ipv6');
  return b;
})();

export function unmapped(ip: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
}

export function isLoopback(ip: string): boolean {
  const a = unmapped(ip);
  return isIPv4(a) ? LOOPBACK.check(a, 'ipv4') : isIPv6(a) && LOOPBACK.check(a, 'ipv6');
}

export function isThisMachine(ip: string): boolean {
  if (isLoopback(ip) || ip === '0.0.0.0' || ip === '::') return true;
  const mine = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  return mine.some((m) => sameAddress(m, ip));
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2), IPv4 tails included. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const o = v4.split('.').map(Number);
    text = text.slice(0, -v4.length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  return tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

export function canonicalIp(ip: string): string {
  return isIPv6(ip) ? ipv6Groups(ip).map((g) => g.toString(16)).join(':') : ip;
}

export function sameAddress(a: string, b: string): boolean {
  return canonicalIp(unmapped(a)) === canonicalIp(unmapped(b));
}

/** The reverse-lookup name of an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = ipv6Groups(ip).map((g) => g.toString(16).padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}
