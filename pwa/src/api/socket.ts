// The browser's WebSocket to /ws/client, thinly wrapped: the address, JSON both ways (the server
// sends binary frames of UTF-8 JSON), and the client's hello once open. Reconnecting, pausing,
// subscriptions and commands are the connection's lifecycle, in app/connection.ts.
import {
  type ClientMessage,
  type Hello,
  PROTOCOL_VERSION,
  SOFTWARE_VERSION,
  type ServerToClient,
} from "./protocol";

export interface SocketHandlers {
  message: (message: ServerToClient) => void; // every well-formed message, the server's hello too
  closed: (code: number, reason: string) => void; // not called after close()
}

const decoder = new TextDecoder();

export class ClientSocket {
  private readonly ws: WebSocket;

  /** Opens the socket; throws when the browser refuses to (e.g. a malformed address). */
  constructor(handlers: SocketHandlers) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/client`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      const hello: Hello = {
        type: "hello",
        protocol_version: PROTOCOL_VERSION,
        software_version: SOFTWARE_VERSION,
        capabilities: [],
      };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev: MessageEvent) => {
      let message: ServerToClient;
      try {
        const text = typeof ev.data === "string" ? ev.data : decoder.decode(ev.data as ArrayBuffer);
        message = JSON.parse(text) as ServerToClient;
      } catch {
        return;
      }
      handlers.message(message);
    };
    ws.onclose = (ev: CloseEvent) => handlers.closed(ev.code, ev.reason);
    this.ws = ws;
  }

  /** Sends when open; false when the message could not be sent. */
  send(message: ClientMessage): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Closes without telling the handlers (the caller knows). */
  close(code: number, reason: string): void {
    this.ws.onclose = null;
    this.ws.onmessage = null;
    try {
      this.ws.close(code, reason);
    } catch {
      /* already closing */
    }
  }
}
