/**
 * Container names and ids, as the Engine API resolves them: a full id, a name (with or
 * without its leading "/"), or a unique id prefix. A name is unique among all containers
 * of the node, running or not (Docker's rule); the daemon holds the index.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { badParameter, conflict } from '../daemon/errors.js';
import { CONTAINER_NAME } from './plan.js';

// A few of moby's pkg/namesgenerator words: names like "eager_hopper".
const LEFT = ['admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'eager', 'elated', 'fervent', 'festive', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'serene', 'sharp', 'stoic', 'tender', 'upbeat', 'vibrant', 'wizardly', 'zen'];
const RIGHT = ['albattani', 'babbage', 'bardeen', 'curie', 'darwin', 'dijkstra', 'einstein', 'euler', 'fermi', 'galileo', 'hopper', 'hypatia', 'kepler', 'knuth', 'lamarr', 'lovelace', 'meitner', 'newton', 'noether', 'pascal', 'ritchie', 'shannon', 'tesla', 'turing', 'wozniak'];

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export class NameIndex {
  private byName = new Map<string, string>();

  /** Reserves `name` (given, or generated) for `id`; 409 with Docker's message when taken. */
  reserve(name: string | undefined, id: string): string {
    if (name === undefined || name === '') {
      for (let i = 0; ; i++) {
        const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i > 5 ? randomInt(10) : ''}`;
        if (!this.byName.has(n)) {
          this.byName.set(n, id);
          return n;
        }
      }
    }
    if (!CONTAINER_NAME.test(name)) throw badParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const n = name.replace(/^\//, '');
    const holder = this.byName.get(n);
    if (holder !== undefined && holder !== id) {
      throw conflict(`Conflict. The container name "/${n}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.byName.set(n, id);
    return n;
  }

  release(name: string, id: string): void {
    if (this.byName.get(name) === id) this.byName.delete(name);
  }

  get(name: string): string | undefined {
    return this.byName.get(name.replace(/^\//, ''));
  }
}
