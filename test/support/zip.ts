// Test support: a one-file zip archive (PKWARE APPNOTE 6.3), deflated, as DMARC reporters send them (RFC 7489 §7.2.1.1), and where its records are.
import { crc32, deflateRawSync } from 'node:zlib';

/** A zip archive of one file (APPNOTE 6.3), deflated; `descriptor` writes it as streaming zippers do (sizes after the data, zeros in the local header). */
export function zip(name: string, content: Buffer, o: { descriptor?: boolean; declaredSize?: number } = {}): Buffer {
  const data = deflateRawSync(content);
  const crc = crc32(content);
  const size = o.declaredSize ?? content.length;
  const fname = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(o.descriptor ? 0x8 : 0, 6);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(o.descriptor ? 0 : crc, 14);
  local.writeUInt32LE(o.descriptor ? 0 : data.length, 18);
  local.writeUInt32LE(o.descriptor ? 0 : size, 22);
  local.writeUInt16LE(fname.length, 26);
  const descriptor = Buffer.alloc(o.descriptor ? 16 : 0);
  if (o.descriptor) {
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc, 4);
    descriptor.writeUInt32LE(data.length, 8);
    descriptor.writeUInt32LE(size, 12);
  }
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(o.descriptor ? 0x8 : 0, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(size, 24);
  central.writeUInt16LE(fname.length, 28);
  const localPart = Buffer.concat([local, fname, data, descriptor]);
  const centralPart = Buffer.concat([central, fname]);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralPart.length, 12);
  end.writeUInt32LE(localPart.length, 16);
  return Buffer.concat([localPart, centralPart, end]);
}

/** Offsets of a one-file archive's records (APPNOTE §4.3.7 local header, §4.3.12 central directory, §4.3.16 end record). */
export type ZipLayout = { local: number; central: number; eocd: number };

export function zipLayout(archive: Buffer): ZipLayout {
  const eocd = archive.length - 22;
  return { local: 0, central: archive.readUInt32LE(eocd + 16), eocd };
}
