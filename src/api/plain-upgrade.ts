/**
 * Requests that ask to upgrade to something other than a WebSocket, such as
 * `Upgrade: h2c` (Java's `java.net.http.HttpClient` sends it on every plain
 * HTTP request by default), are ordinary requests to us: RFC 9110 §7.8 lets a
 * server ignore an Upgrade it does not take. Node hands any request with an
 * Upgrade header to the `upgrade` event once that has a listener (the
 * WebSocket's), with the connection detached from its HTTP parser; this
 * rebuilds the request and answers it through the normal request handler on
 * that connection, which then closes.
 */
import { IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

export function answerAsPlainRequest(
  server: Server,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const chunked = /\bchunked\b/i.test(req.headers['transfer-encoding'] ?? '');
  const length = Number(req.headers['content-length'] ?? 0);
  if (chunked || !Number.isSafeInteger(length) || length < 0) {
    const body = JSON.stringify({
      error: 'bad_request',
      message: `a request body sent with "Upgrade: ${req.headers.upgrade}" needs a Content-Length (or send it without the Upgrade header)`,
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    return;
  }
  const plain = new IncomingMessage(socket as never);
  plain.method = req.method;
  plain.url = req.url;
  plain.httpVersionMajor = req.httpVersionMajor;
  plain.httpVersionMinor = req.httpVersionMinor;
  plain.httpVersion = req.httpVersion;
  plain.headers = req.headers;
  plain.rawHeaders = req.rawHeaders;
  const res = new ServerResponse(plain);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  res.once('finish', () => {
    res.detachSocket(socket as never);
    socket.end();
  });
  // The body (if any) follows the headers on the connection: `head` holds what came with them.
  let got = 0;
  const feed = (chunk: Buffer): void => {
    const take = chunk.subarray(0, length - got);
    got += take.length;
    if (take.length > 0) plain.push(take);
    if (got >= length) {
      socket.off('data', feed);
      end();
    }
  };
  // Whole: a request left incomplete takes its connection down with it when it is destroyed.
  const end = (): void => {
    plain.complete = true;
    plain.push(null);
  };
  if (length === 0) end();
  else {
    if (head.length > 0) feed(head);
    if (got < length) socket.on('data', feed);
  }
  server.emit('request', plain, res);
}
