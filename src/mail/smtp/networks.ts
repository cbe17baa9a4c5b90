// CIDR lists such as `server.allowed-ip` (e.g. 172.18.0.0/16, a bare address, or an IPv6 prefix), matched with node's BlockList.
import { BlockList, isIP } from 'node:net';

const cache = new Map<string, BlockList>();

function build(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [addr, bits] = entry.trim().split('/');
    const family = isIP(addr);
    if (!family) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

/** Whether `ip` falls in any of the networks; IPv4-mapped IPv6 addresses count as IPv4. */
export function inNetworks(ip: string, cidrs: string[]): boolean {
  if (!cidrs.length || !ip) return false;
  const key = cidrs.join(',');
  let list = cache.get(key);
  if (!list) {
    list = build(cidrs);
    cache.set(key, list);
  }
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const addr = v4 ?? ip;
  const family = isIP(addr);
  if (!family) return false;
  return list.check(addr, family === 6 ? 'ipv6' : 'ipv4');
}

/** Problems in a CIDR list, for `mana config check`. */
export function invalidNetworks(cidrs: string[]): string[] {
  return cidrs.filter((entry) => {
    const [addr, bits] = entry.trim().split('/');
    const family = isIP(addr);
    if (!family) return true;
    if (bits === undefined) return false;
    const n = Number(bits);
    return !Number.isInteger(n) || n < 0 || n > (family === 6 ? 128 : 32);
  });
}
