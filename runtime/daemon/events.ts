/**
 * Engine API events (`GET /events`): an in-memory bus of the daemon's container and image
 * events, with a bounded backlog for `since`. Messages have moby's shape
 * (api/types/events.Message): Type, Action, Actor {ID, Attributes}, scope, time, timeNano,
 * plus the legacy status/id/from fields the docker CLI still prints.
 */
import { EventEmitter } from 'node:events';

export interface EngineEvent {
  Type: 'container' | 'image' | 'daemon' | 'volume';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

const BACKLOG = 1024;

export class EventBus {
  private emitter = new EventEmitter();
  private backlog: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      ev.status = action;
      ev.id = id;
      if (attributes.image) ev.from = attributes.image;
    }
    this.backlog.push(ev);
    if (this.backlog.length > BACKLOG) this.backlog.shift();
    this.emitter.emit('event', ev);
    return ev;
  }

  /** Events at or after `sinceNs` still in the backlog. */
  since(sinceNs: number): EngineEvent[] {
    return this.backlog.filter((e) => e.timeNano >= sinceNs);
  }

  subscribe(listener: (ev: EngineEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
