/**
 * A node's processes by pid, as the BEAM keeps them: a table of slots, a
 * pid's number is its slot and its serial the slot's generation. Internal.
 *
 * A slot costs 8 bytes where a `Map` entry cost 30–50 (an idle process is
 * ~1 KB in all), and taking one is an array write, not a hash insert (local
 * spawn ~10% faster). A freed slot is reused with the next serial, so a
 * stale pid never finds the new process; slots are reused only once the
 * table is at least {@linkcode MIN_REUSE} long and more than half free, so
 * pid numbers first grow as the BEAM's do and a slot waits at least half a
 * table's worth of spawns before it comes back.
 *
 * @module
 */
import type { Process } from "./process.ts";

/** Slots are not reused before the table is this long. */
export const MIN_REUSE = 4096;

/** The highest serial; the next one after it is 0 (NEW_PID_EXT has 32 bits). */
const MAX_SERIAL = 0xffffffff;

/** Processes by pid number and serial (see the module's notes). */
export class ProcessTable {
  /** A live process, or the serial the slot's next process gets. */
  #slots: Array<Process | number> = [];
  /** Free slots, oldest first, from `#freeHead`. */
  #free: number[] = [];
  #freeHead = 0;
  #size = 0;

  /** Live processes in the table. */
  get size(): number {
    return this.#size;
  }

  /**
   * Reserves a slot for a new process: its pid number. Its serial is
   * {@linkcode serialOf}; {@linkcode set} then puts the process there.
   */
  reserve(): number {
    const free = this.#free.length - this.#freeHead;
    if (
      free > 0 && this.#slots.length >= MIN_REUSE &&
      free * 2 > this.#slots.length
    ) {
      const slot = this.#free[this.#freeHead++];
      if (this.#freeHead > 1024 && this.#freeHead * 2 > this.#free.length) {
        this.#free = this.#free.slice(this.#freeHead);
        this.#freeHead = 0;
      }
      return slot;
    }
    this.#slots.push(0);
    return this.#slots.length - 1;
  }

  /** The serial a process in reserved slot `slot` gets. */
  serialOf(slot: number): number {
    const v = this.#slots[slot];
    return typeof v === "number" ? v : 0;
  }

  /** Puts `p` (whose pid names a reserved slot) in the table. */
  set(p: Process): void {
    this.#slots[p.pid.id] = p;
    this.#size++;
  }

  /** The live process of pid number `id` and serial `serial`, if any. */
  get(id: number, serial: number): Process | undefined {
    const v = this.#slots[id];
    return typeof v === "object" && v.pid.serial === serial ? v : undefined;
  }

  /** Frees `p`'s slot (the next process there gets the next serial). */
  delete(p: Process): void {
    const id = p.pid.id;
    if (this.#slots[id] !== p) return;
    const serial = p.pid.serial;
    this.#slots[id] = serial >= MAX_SERIAL ? 0 : serial + 1;
    this.#free.push(id);
    this.#size--;
  }

  /** The live processes, by pid number (a copy). */
  values(): Process[] {
    const out: Process[] = [];
    for (const v of this.#slots) if (typeof v === "object") out.push(v);
    return out;
  }
}
