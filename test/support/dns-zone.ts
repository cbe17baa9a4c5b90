// Test support: a fake authoritative DNS zone on 127.0.0.1, UDP and TCP on one port (RFC 1035 §4.2, RFC 7766), built on dns2; SRV records per RFC 2782.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Packet as DnsPacket, TCPServer, UDPServer } from 'dns2';

// dns2 ships CommonJS with a thin ESM wrapper; its classes are reached through require so
// that the types of its CJS declaration file apply.
const require = createRequire(import.meta.url);
const dns2 = require('dns2') as typeof import('dns2');
const { Packet } = dns2;

export type ZoneEntry = {
  A?: string[];
  AAAA?: string[];
  MX?: Array<{ exchange: string; priority: number }>;
  /** Each string is one TXT record; strings longer than 255 bytes are split into 255-byte chunks (RFC 1035 §3.3.14). */
  TXT?: string[];
  PTR?: string[];
  /** RFC 2782: priority, weight, port, target; a target of "." says the service is not offered here. */
  SRV?: Array<{ priority: number; weight: number; port: number; target: string }>;
  CNAME?: string;
  /** Answer every query for this name with SERVFAIL. */
  servfail?: boolean;
  /** Never answer queries for this name (the client times out). */
  drop?: boolean;
};

export type Zone = Record<string, ZoneEntry>;

export type DnsZone = {
  /** 'host:port' for `Resolver#setServers`; the same port serves UDP and TCP. */
  server: string;
  port: number;
  /** Replaces the whole zone; takes effect for the next query. */
  update: (zone: Zone) => void;
  /** Queries seen so far (name lowercased, type mnemonic), oldest first. */
  queries: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }>;
  close: () => Promise<void>;
};

type Resource = Record<string, unknown> & { name: string; type: number; class: number; ttl: number };
type Send = (response: DnsPacket | Buffer) => unknown;

const TTL = 60;
// RFC 1035 §4.1.1 response codes (dns2's type declarations omit Packet.RCODE).
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const typeNames = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, value]) => [value as number, name]));

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function normalizeZone(zone: Zone): Map<string, ZoneEntry> {
  return new Map(Object.entries(zone).map(([name, entry]) => [normalize(name), entry]));
}

/** RFC 1035 §3.3: a <character-string> is at most 255 octets, so long TXT data becomes several strings in one record. */
function txtChunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [bytes];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

function recordsOf(name: string, entry: ZoneEntry, type: number): Resource[] {
  const base = { name, class: Packet.CLASS.IN, ttl: TTL };
  switch (type) {
    case Packet.TYPE.A:
      return (entry.A ?? []).map((address) => ({ ...base, type, address }));
    case Packet.TYPE.AAAA:
      return (entry.AAAA ?? []).map((address) => ({ ...base, type, address }));
    case Packet.TYPE.MX:
      return (entry.MX ?? []).map((mx) => ({ ...base, type, exchange: mx.exchange, priority: mx.priority }));
    case Packet.TYPE.TXT:
      return (entry.TXT ?? []).map((text) => ({ ...base, type, data: txtChunks(text) }));
    case Packet.TYPE.PTR:
      return (entry.PTR ?? []).map((domain) => ({ ...base, type, domain }));
    case Packet.TYPE.SRV:
      return (entry.SRV ?? []).map((srv) => ({ ...base, type, ...srv }));
    case Packet.TYPE.CNAME:
      return entry.CNAME === undefined ? [] : [{ ...base, type, domain: entry.CNAME }];
    default:
      return [];
  }
}

/** A domain name as uncompressed labels (RFC 1035 §3.1); "." or "" is the root. */
function wireName(name: string): Buffer {
  const labels = normalize(name).split('.').filter(Boolean).map((label) => Buffer.from(label, 'ascii'));
  return Buffer.concat([...labels.flatMap((label) => [Buffer.from([label.length]), label]), Buffer.from([0])]);
}

/**
 * One SRV resource record on the wire (RFC 1035 §4.1.3, RDATA per RFC 2782). Written here rather
 * than by dns2, which compresses the target: RFC 2782 says name compression is not to be used for
 * that field, and c-ares (node:dns) answers EBADRESP to a compressed one.
 */
function srvRecord(r: Resource): Buffer {
  const target = wireName(String(r.target));
  const fixed = Buffer.alloc(16);
  fixed.writeUInt16BE(r.type, 0);
  fixed.writeUInt16BE(r.class, 2);
  fixed.writeUInt32BE(r.ttl, 4);
  fixed.writeUInt16BE(6 + target.length, 8);
  fixed.writeUInt16BE(Number(r.priority), 10);
  fixed.writeUInt16BE(Number(r.weight), 12);
  fixed.writeUInt16BE(Number(r.port), 14);
  return Buffer.concat([wireName(r.name), fixed, target]);
}

/** The response as dns2 encodes it, with any SRV answers (always last: the end of a CNAME chain) appended by hand. */
function encodeResponse(response: DnsPacket, answers: Resource[]): DnsPacket | Buffer {
  const srv = answers.filter((r) => r.type === Packet.TYPE.SRV);
  response.answers = answers.filter((r) => r.type !== Packet.TYPE.SRV) as unknown as DnsPacket['answers'];
  if (!srv.length) return response;
  const head = response.toBuffer();
  head.writeUInt16BE(answers.length, 6); // ANCOUNT (RFC 1035 §4.1.1)
  return Buffer.concat([head, ...srv.map(srvRecord)]);
}

type Answer = { rcode: number; answers: Resource[] } | 'drop';

/** Answers one question the way a recursive resolver would: CNAME chains are followed inside the zone. */
function answer(zone: Map<string, ZoneEntry>, qname: string, qtype: number): Answer {
  const answers: Resource[] = [];
  let name = normalize(qname);
  for (let hops = 0; hops < 8; hops++) {
    const entry = zone.get(name);
    if (entry === undefined) return { rcode: RCODE.NXDOMAIN, answers };
    if (entry.drop) return 'drop';
    if (entry.servfail) return { rcode: RCODE.SERVFAIL, answers: [] };
    if (entry.CNAME !== undefined && qtype !== Packet.TYPE.CNAME) {
      answers.push(...recordsOf(name, entry, Packet.TYPE.CNAME));
      name = normalize(entry.CNAME);
      continue;
    }
    answers.push(...recordsOf(name, entry, qtype));
    return { rcode: RCODE.NOERROR, answers };
  }
  return { rcode: RCODE.SERVFAIL, answers: [] };
}

export async function startDnsZone(initial: Zone): Promise<DnsZone> {
  let zone = normalizeZone(initial);
  const queries: DnsZone['queries'] = [];

  const handle = (transport: 'udp' | 'tcp') => (request: DnsPacket, send: Send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const [question] = request.questions;
    if (question === undefined) {
      response.header.rcode = RCODE.FORMERR;
      send(response);
      return;
    }
    queries.push({ name: normalize(question.name), type: typeNames.get(question.type) ?? String(question.type), transport });
    const result = answer(zone, question.name, question.type);
    if (result === 'drop') return;
    response.header.rcode = result.rcode;
    void Promise.resolve(send(encodeResponse(response, result.answers))).catch(() => {});
  };

  // Bind UDP on port 0, then TCP on the same number; retry if another process holds it for TCP.
  for (let attempt = 0; ; attempt++) {
    const udp: UDPServer = dns2.createUDPServer({ type: 'udp4' });
    udp.on('request', handle('udp'));
    udp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve());
    });
    const port = (udp.address() as AddressInfo).port;
    const tcp: TCPServer = dns2.createTCPServer();
    const sockets = new Set<Socket>();
    tcp.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    tcp.on('request', handle('tcp'));
    tcp.on('requestError', () => {});
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
    });
    if (!listening) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt >= 20) throw Object.assign(new Error('no port free for both UDP and TCP'), { code: 'test.dns_port' });
      continue;
    }
    let closed: Promise<void> | undefined;
    return {
      server: `127.0.0.1:${port}`,
      port,
      queries,
      update(next: Zone) {
        zone = normalizeZone(next);
      },
      close() {
        closed ??= Promise.all([
          new Promise<void>((resolve) => udp.close(() => resolve())),
          new Promise<void>((resolve) => {
            tcp.close(() => resolve());
            for (const socket of sockets) socket.destroy();
          }),
        ]).then(() => {});
        return closed;
      },
    };
  }
}
