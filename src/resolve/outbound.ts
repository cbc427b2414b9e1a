/**
 * Outbound destinations chosen by anyone but a root admin — the address of a store created
 * through the API, the host of a connection created through the API — are checked here before
 * the server connects to them.
 *
 * - With `server.outbound.allow` (host names, `*.suffix` wildcards, IP addresses and CIDRs), a
 *   destination must match an entry.
 * - Loopback, link-local (169.254.0.0/16 holds the cloud metadata services), unspecified and
 *   cloud metadata addresses (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`,
 *   `metadata.google.internal`) are refused, unless an IP or CIDR entry of the allow list
 *   names them: a host name that resolves to one of them is refused all the same, so a DNS
 *   record cannot turn an allowed name into the metadata service.
 * - Names are resolved and every address must pass. {@link OutboundPolicy.lookup} does the same
 *   at connect time (a `lookup` for `net`/`http`), so what is checked is what is connected to.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ForbiddenError } from '../errors.js';

export interface OutboundSettings {
  /** Host names, `*.example.com`, IP addresses and CIDRs a non-root principal may make the server reach. */
  allow?: readonly string[] | undefined;
}

/** Host names refused like the addresses they stand for. */
const REFUSED_NAMES = new Set(['localhost', 'metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

function refusedRanges(): BlockList {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4'); // loopback
  list.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network" (0.0.0.0 reaches the host itself)
  list.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local: 169.254.169.254 (AWS, GCP, Azure metadata)
  list.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
  list.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
  list.addAddress('255.255.255.255', 'ipv4');
  list.addAddress('::1', 'ipv6'); // loopback
  list.addAddress('::', 'ipv6'); // unspecified
  list.addSubnet('fe80::', 10, 'ipv6'); // link-local
  list.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
  list.addSubnet('ff00::', 8, 'ipv6'); // multicast
  return list;
}

const REFUSED = refusedRanges();

/** `::ffff:127.0.0.1` is 127.0.0.1. */
function normalize(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** The host of a URL or `host[:port]`, without brackets, lowercased. */
export function hostOf(destination: string): string {
  let host: string;
  try {
    host = new URL(destination.includes('://') ? destination : `tcp://${destination}`).hostname;
  } catch {
    host = destination;
  }
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

type Resolve = (host: string) => Promise<string[]>;

const systemResolve: Resolve = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses: LookupAddress[]) => {
      if (err) reject(err);
      else resolve(addresses.map((a) => a.address));
    });
  });

export class OutboundPolicy {
  readonly #names: string[] = [];
  readonly #suffixes: string[] = [];
  readonly #addresses = new BlockList();
  readonly #hasAllowList: boolean;

  /**
   * @param settings `server.outbound` of the config.
   * @param resolve How names become addresses (tests give a fixed table).
   */
  constructor(
    settings: OutboundSettings | undefined,
    private readonly resolve: Resolve = systemResolve,
  ) {
    const allow = settings?.allow ?? [];
    this.#hasAllowList = allow.length > 0;
    for (const raw of allow) {
      const entry = raw.trim().toLowerCase();
      const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
      if (cidr?.[1] && isIP(cidr[1])) {
        const { address, family } = normalize(cidr[1]);
        this.#addresses.addSubnet(address, Number(cidr[2]), family);
      } else if (isIP(entry.replace(/^\[|\]$/g, ''))) {
        const { address, family } = normalize(entry.replace(/^\[|\]$/g, ''));
        this.#addresses.addAddress(address, family);
      } else if (entry.startsWith('*.')) {
        this.#suffixes.push(entry.slice(1));
      } else {
        this.#names.push(entry);
      }
    }
  }

  /** The config's entries are checked when it loads: an entry that is neither name, address nor CIDR is an error. */
  static validEntry(entry: string): boolean {
    const e = entry.trim().toLowerCase();
    const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
    if (cidr?.[1]) {
      const bits = Number(cidr[2]);
      const family = isIP(cidr[1]);
      return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
    }
    if (isIP(e.replace(/^\[|\]$/g, ''))) return true;
    return /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(e);
  }

  #nameAllowed(host: string): boolean {
    return this.#names.includes(host) || this.#suffixes.some((s) => host.endsWith(s) && host.length > s.length);
  }

  #addressListed(address: string): boolean {
    const n = normalize(address);
    return this.#addresses.check(n.address, n.family);
  }

  /** Why `address` (reached for `host`) is refused, or undefined when it may be reached. */
  #refusal(host: string, address: string): string | undefined {
    const n = normalize(address);
    const listed = this.#addresses.check(n.address, n.family);
    if (REFUSED.check(n.address, n.family) && !listed) {
      return `${address} is a loopback, link-local or cloud metadata address, which the server does not reach for a destination chosen through the API`;
    }
    if (this.#hasAllowList && !listed && !this.#nameAllowed(host)) {
      return `${host} is not in server.outbound.allow`;
    }
    return undefined;
  }

  /**
   * True when an allow entry names the destination (its name, or every address it resolves to):
   * the admin allowed it on purpose, so secret values may be sent there for a test.
   */
  async explicitlyAllowed(destination: string): Promise<boolean> {
    if (!this.#hasAllowList) return false;
    const host = hostOf(destination);
    if (this.#nameAllowed(host)) return true;
    const addresses = isIP(host) ? [host] : await this.resolve(host).catch(() => []);
    return addresses.length > 0 && addresses.every((a) => this.#addressListed(a));
  }

  /**
   * Throw {@link ForbiddenError} unless the server may reach `destination` (a URL or
   * `host[:port]`) for `what` (e.g. `store vault setting address`).
   */
  async check(destination: string, what: string): Promise<void> {
    const host = hostOf(destination);
    const fix = 'use another address, or ask an admin to add it to server.outbound.allow in the config';
    if (host === '') throw new ForbiddenError('forbidden_destination', `${what}: no host in the address: ${fix}`);
    if ((REFUSED_NAMES.has(host) || host.endsWith('.localhost')) && !this.#nameAllowed(host)) {
      throw new ForbiddenError('forbidden_destination', `${what}: ${host} is this server or a cloud metadata service: ${fix}`);
    }
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = await this.resolve(host);
      } catch {
        throw new ForbiddenError('forbidden_destination', `${what}: ${host} does not resolve, so it cannot be checked: ${fix}`);
      }
    }
    for (const address of addresses) {
      const why = this.#refusal(host, address);
      if (why) throw new ForbiddenError('forbidden_destination', `${what}: ${why}: ${fix}`);
    }
  }

  /**
   * A `lookup` for `net.connect`/`http.request` that refuses what {@link check} refuses, at
   * connect time: the address checked is the address connected to (no DNS rebinding between a
   * check and the connection).
   */
  lookup(what: string): LookupFunction {
    return ((hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
      const cb = typeof options === 'function' ? (options as typeof callback) : callback;
      const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
      const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
      this.check(host, what).then(
        async () => {
          const addresses = isIP(host) ? [host] : await this.resolve(host);
          // check() resolved too; a second answer must pass again.
          for (const a of addresses) {
            const why = this.#refusal(host, a);
            if (why) throw new ForbiddenError('forbidden_destination', `${what}: ${why}`);
          }
          const family = (a: string) => (isIP(a) === 6 ? 6 : 4);
          if (all) cb(null, addresses.map((a) => ({ address: a, family: family(a) })));
          else cb(null, addresses[0], family(addresses[0] as string));
        },
      ).catch((err: unknown) => cb(err));
    }) as LookupFunction;
  }
}
