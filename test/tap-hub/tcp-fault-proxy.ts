import { connect, createServer, type Server, type Socket } from "node:net";

/** Bytes held per direction per connection while a direction is held; past it the connection is cut. */
export const heldBytesMax = 1024 * 1024;

type Direction = "up" | "down";

interface Pipe {
  client: Socket;
  target: Socket;
  held: Record<Direction, Buffer[]>;
  heldBytes: Record<Direction, number>;
}

/**
 * A TCP relay on 127.0.0.1 between a hub and the broker, with fault switches: hold one direction (bytes wait,
 * in order, until release), cut every connection, refuse new ones. TLS passes through untouched, so the hub
 * still talks mTLS to the real broker.
 */
export class TcpFaultProxy {
  private readonly pipes = new Set<Pipe>();
  private readonly holding: Record<Direction, boolean> = { up: false, down: false };
  refusing = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpFaultProxy> {
    let proxy: TcpFaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    proxy = new TcpFaultProxy(server, typeof address === "object" && address ? address.port : 0);
    return proxy;
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /** "up": hub → broker; "down": broker → hub (decisions). */
  hold(direction: Direction): void {
    this.holding[direction] = true;
  }

  release(direction: Direction): void {
    this.holding[direction] = false;
    for (const pipe of this.pipes) {
      const to = direction === "up" ? pipe.target : pipe.client;
      for (const chunk of pipe.held[direction].splice(0)) to.write(chunk);
      pipe.heldBytes[direction] = 0;
    }
  }

  cutAll(): void {
    for (const pipe of [...this.pipes]) this.drop(pipe);
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const target = connect({ host: "127.0.0.1", port: targetPort });
    const pipe: Pipe = { client, target, held: { up: [], down: [] }, heldBytes: { up: 0, down: 0 } };
    this.pipes.add(pipe);
    client.on("data", (chunk: Buffer) => this.forward(pipe, "up", chunk));
    target.on("data", (chunk: Buffer) => this.forward(pipe, "down", chunk));
    for (const socket of [client, target]) {
      socket.on("error", () => undefined);
      socket.on("close", () => this.drop(pipe));
    }
  }

  private forward(pipe: Pipe, direction: Direction, chunk: Buffer): void {
    if (!this.holding[direction]) {
      (direction === "up" ? pipe.target : pipe.client).write(chunk);
      return;
    }
    pipe.heldBytes[direction] += chunk.length;
    if (pipe.heldBytes[direction] > heldBytesMax) return this.drop(pipe);
    pipe.held[direction].push(chunk);
  }

  private drop(pipe: Pipe): void {
    if (!this.pipes.delete(pipe)) return;
    pipe.client.destroy();
    pipe.target.destroy();
  }
}
