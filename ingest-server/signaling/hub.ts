import { ClientLimitExceededException, InvalidArgumentException, ResourceNotFoundException } from '../protocol/errors.js';
import { statusResponse, type ClientMessage, type ServerMessage } from './messages.js';

// Who is connected to which channel, and message routing between them. A channel has at most
// one master and any number of viewers, each viewer known by its client id. A viewer's messages
// go to the master; the master's go to the viewer it names. A message whose recipient is not
// connected is held for the channel's MessageTtlSeconds and delivered when the recipient
// connects (a viewer often sends its offer before the camera's master is up); after that its
// sender hears that it was not delivered.

/** One connected client, as the hub sees it: the socket layer sends and closes. */
export interface Peer {
  send(message: ServerMessage): void;
  /** Ends the connection; the hub has already sent GO_AWAY when it calls this. */
  close(): void;
}

interface Held {
  message: ServerMessage;
  from: Peer;
  correlationId: string | undefined;
  timer: NodeJS.Timeout;
}

interface Room {
  /** By client id; the master under MASTER (no client id can be empty). */
  peers: Map<string, Peer>;
  /** Messages for recipients not yet connected, by recipient key, oldest first. */
  held: Map<string, Held[]>;
}

const MASTER = '';
/** Messages a channel holds for absent recipients at most, so a flood cannot exhaust memory. */
const MAX_HELD_PER_CHANNEL = 1000;
const GO_AWAY: ServerMessage = { messageType: 'GO_AWAY' };

/** The routing table of every signaling channel with someone connected. */
export class SignalingHub {
  readonly #rooms = new Map<string, Room>();

  /**
   * Connects a peer to a channel: as master when clientId is undefined, else as that viewer. A
   * peer already there under the same role and id gets GO_AWAY and is closed. Returns the
   * function to call when the peer's connection ends.
   */
  join(channelArn: string, clientId: string | undefined, peer: Peer): () => void {
    const room = this.#room(channelArn);
    const key = clientId ?? MASTER;
    const previous = room.peers.get(key);
    room.peers.set(key, peer);
    if (previous) goAway(previous);
    for (const held of room.held.get(key) ?? []) {
      clearTimeout(held.timer);
      peer.send(held.message);
    }
    room.held.delete(key);
    return () => {
      if (room.peers.get(key) === peer) room.peers.delete(key);
      this.#dropIfEmpty(channelArn, room);
    };
  }

  /** Forwards a client's message; failures reach the sender as STATUS_RESPONSE. */
  forward(channelArn: string, from: { clientId: string | undefined; peer: Peer }, message: ClientMessage, ttlSeconds: number): void {
    const room = this.#room(channelArn);
    const isMaster = from.clientId === undefined;
    if (isMaster && message.recipientClientId === undefined) {
      from.peer.send(statusResponse(new InvalidArgumentException('A message from the master must name its recipientClientId.'), message.correlationId));
      return;
    }
    const key = isMaster ? message.recipientClientId! : MASTER;
    const outgoing: ServerMessage = {
      messageType: message.action,
      messagePayload: message.messagePayload,
      ...(isMaster ? {} : { senderClientId: from.clientId }),
    };
    const recipient = room.peers.get(key);
    if (recipient) {
      recipient.send(outgoing);
      return;
    }
    if ([...room.held.values()].reduce((count, queue) => count + queue.length, 0) >= MAX_HELD_PER_CHANNEL) {
      from.peer.send(statusResponse(new ClientLimitExceededException(`The channel already holds ${MAX_HELD_PER_CHANNEL} messages for clients not connected.`), message.correlationId));
      return;
    }
    const queue = room.held.get(key) ?? [];
    room.held.set(key, queue);
    const held: Held = {
      message: outgoing,
      from: from.peer,
      correlationId: message.correlationId,
      timer: setTimeout(() => {
        queue.splice(queue.indexOf(held), 1);
        if (queue.length === 0 && room.held.get(key) === queue) room.held.delete(key);
        if ([...room.peers.values()].includes(held.from)) {
          const who = key === MASTER ? 'The master' : `Client ${key}`;
          held.from.send(statusResponse(new ResourceNotFoundException(`${who} did not connect within the channel's MessageTtlSeconds (${ttlSeconds}).`, 404), held.correlationId));
        }
        this.#dropIfEmpty(channelArn, room);
      }, ttlSeconds * 1000),
    };
    // Held messages must not keep a stopping server alive.
    held.timer.unref();
    queue.push(held);
  }

  /** Sends GO_AWAY to everyone on a channel and closes them (the channel is being deleted). */
  closeChannel(channelArn: string): void {
    const room = this.#rooms.get(channelArn);
    if (!room) return;
    this.#rooms.delete(channelArn);
    for (const queue of room.held.values()) for (const held of queue) clearTimeout(held.timer);
    for (const peer of room.peers.values()) goAway(peer);
  }

  /** Closes every channel (the server is stopping). */
  closeAll(): void {
    for (const channelArn of [...this.#rooms.keys()]) this.closeChannel(channelArn);
  }

  #room(channelArn: string): Room {
    let room = this.#rooms.get(channelArn);
    if (!room) {
      room = { peers: new Map(), held: new Map() };
      this.#rooms.set(channelArn, room);
    }
    return room;
  }

  #dropIfEmpty(channelArn: string, room: Room): void {
    if (room.peers.size === 0 && room.held.size === 0 && this.#rooms.get(channelArn) === room) this.#rooms.delete(channelArn);
  }
}

function goAway(peer: Peer): void {
  peer.send(GO_AWAY);
  peer.close();
}
