import assert from "node:assert/strict";
import { test } from "node:test";
import { MIN_REUSE, ProcessTable } from "./_process_table.ts";
import { Process } from "./process.ts";
import { Pid } from "./terms.ts";

function add(t: ProcessTable): Process {
  const slot = t.reserve();
  const pid = new Pid("t@localhost", slot, t.serialOf(slot), 1);
  const p = new Process(pid, pid);
  t.set(p);
  return p;
}

test("pid numbers grow until the table is long and half free", () => {
  const t = new ProcessTable();
  const first = add(t);
  assert.equal(first.pid.id, 0);
  assert.equal(first.pid.serial, 0);
  t.delete(first);
  // A short table does not reuse: the next pid is a new number.
  const second = add(t);
  assert.equal(second.pid.id, 1);
  assert.equal(t.get(0, 0), undefined, "a freed slot finds nothing");
  assert.equal(t.get(1, 0), second);
  assert.equal(t.size, 1);
});

test("a reused slot gets the next serial; the stale pid finds nothing", () => {
  const t = new ProcessTable();
  const ps: Process[] = [];
  for (let i = 0; i < MIN_REUSE; i++) ps.push(add(t));
  // Free more than half, oldest first.
  for (let i = 0; i <= MIN_REUSE / 2; i++) t.delete(ps[i]);
  const reused = add(t);
  assert.equal(reused.pid.id, 0, "the oldest free slot comes back first");
  assert.equal(reused.pid.serial, 1);
  assert.equal(t.get(0, 0), undefined, "the old pid no longer resolves");
  assert.equal(t.get(0, 1), reused);
  // Now half the table is free, not more: it grows instead.
  assert.equal(add(t).pid.id, MIN_REUSE);
  // Deleting a process twice, or one not in its slot, changes nothing.
  t.delete(ps[0]);
  assert.equal(t.get(0, 1), reused);
  assert.equal(t.size, MIN_REUSE - (MIN_REUSE / 2 + 1) + 2);
  assert.deepEqual(
    t.values().map((p) => p.pid.id).slice(0, 3),
    [0, MIN_REUSE / 2 + 1, MIN_REUSE / 2 + 2],
    "values come in pid-number order",
  );
});

test("the table stays within twice the live processes under churn", () => {
  const t = new ProcessTable();
  const live: Process[] = [];
  for (let i = 0; i < 100_000; i++) {
    live.push(add(t));
    if (live.length > 3000) t.delete(live.shift()!);
  }
  assert.equal(t.size, 3000);
  const top = Math.max(...t.values().map((p) => p.pid.id));
  assert.ok(top < 2 * MIN_REUSE + 3000, `highest pid number ${top}`);
});
