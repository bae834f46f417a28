/**
 * Loopback addresses for local machines. Every 127.x.y.z address routes to the loopback
 * interface on Linux, so each local machine gets its own address and listens on the same
 * SSH port as every other one, like real machines on a network.
 *
 * An address is reserved by binding a UDP socket on (address, RESERVATION_PORT): UDP and
 * TCP ports are separate, so the reservation never gets in the way of the machine's TCP
 * server, yet every emulator on the host (parallel test processes, local stacks side by
 * side) sees it and skips the address, whatever SSH port (22, 2222, …) each one uses. An
 * address whose TCP SSH port is already bound by anything else is skipped too.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface AddressReservation {
  address: string;
  release(): void;
}

function toInt(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || parts[0] !== 127) {
    throw new Error(`not a loopback IPv4 address: ${address}`);
  }
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

function toAddress(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The same UDP port for every emulator, so reservations hold across SSH ports. */
export const RESERVATION_PORT = 2222;

/** The top of 127.0.0.0/8, minus the broadcast address. */
const LAST = toInt('127.255.255.254');

function bindUdp(address: string, port: number): Promise<dgram.Socket | null> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      if (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL') resolve(null);
      else reject(err);
    });
    socket.bind({ address, port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      socket.unref();
      resolve(socket);
    });
  });
}

function tcpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL') resolve(false);
      else reject(err);
    });
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Hands out loopback addresses from `base` upwards, skipping .0 and .255 and any address in use. */
export class LoopbackAllocator {
  private next: number;
  private readonly first: number;
  private readonly taken = new Set<string>();

  constructor(
    base: string,
    private readonly port: number,
  ) {
    this.first = toInt(base);
    this.next = this.first;
  }

  /** `preferred` first (a machine coming back after a restart keeps its address), when it is free. */
  async reserve(preferred?: string | null): Promise<AddressReservation> {
    if (preferred) {
      const again = await this.reserveExactly(preferred);
      if (again) return again;
    }
    const span = LAST - this.first + 1;
    for (let tried = 0; tried < span; tried++) {
      const n = this.next;
      this.next = n >= LAST ? this.first : n + 1;
      const last = n & 255;
      if (last === 0 || last === 255) continue;
      const reservation = await this.reserveExactly(toAddress(n));
      if (reservation) return reservation;
    }
    throw new Error('no free loopback address left');
  }

  private async reserveExactly(address: string): Promise<AddressReservation | null> {
    toInt(address);
    if (this.taken.has(address)) return null;
    const udp = await bindUdp(address, RESERVATION_PORT);
    if (!udp) return null;
    if (!(await tcpFree(address, this.port))) {
      udp.close();
      return null;
    }
    this.taken.add(address);
    let released = false;
    return {
      address,
      release: () => {
        if (released) return;
        released = true;
        this.taken.delete(address);
        udp.close();
      },
    };
  }
}
