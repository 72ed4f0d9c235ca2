import { test } from "node:test";
import assert from "node:assert/strict";
import { atom, tuple } from "../node/terms.ts";
import {
  checkIntensity,
  checkRestart,
  isNormalExit,
  RestartIntensity,
  restarts,
} from "./_restart_intensity.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the window: maxRestarts allowed within maxSeconds, then no; old ones drop out", async () => {
  const w = new RestartIntensity(2, 0.1);
  assert.equal(w.add(), true);
  assert.equal(w.add(), true);
  assert.equal(w.add(), false, "the third within 100 ms is one too many");
  await sleep(130);
  assert.equal(w.add(), true, "the old restarts left the window");
  const none = new RestartIntensity(0, 5);
  assert.equal(none.add(), false, "maxRestarts 0: the first restart gives up");
});

test("which exits restart which children", () => {
  const normal = [
    atom("normal"),
    atom("shutdown"),
    tuple(atom("shutdown"), atom("why")),
  ];
  const abnormal = [atom("killed"), atom("crash"), tuple(atom("shutdown"))];
  for (const r of normal) assert.equal(isNormalExit(r), true, String(r));
  for (const r of abnormal) assert.equal(isNormalExit(r), false, String(r));
  for (const r of [...normal, ...abnormal]) {
    assert.equal(restarts("permanent", r), true);
    assert.equal(restarts("temporary", r), false);
    assert.equal(restarts("transient", r), !isNormalExit(r));
  }
});

test("restart types and intensity options: defaults, and a RangeError saying what is allowed", () => {
  assert.equal(checkRestart(undefined, "child a", "permanent"), "permanent");
  assert.equal(checkRestart("transient", "child a", "permanent"), "transient");
  assert.throws(
    () => checkRestart("often", "child a", "permanent"),
    (e: Error) =>
      e instanceof RangeError &&
      /child a: restart must be "permanent", "transient" or "temporary", got often/
        .test(e.message),
  );
  assert.deepEqual(checkIntensity({}), { maxRestarts: 3, maxSeconds: 5 });
  assert.deepEqual(checkIntensity({ maxRestarts: 0, maxSeconds: 0.5 }), {
    maxRestarts: 0,
    maxSeconds: 0.5,
  });
  for (
    const [o, message] of [
      [{ maxRestarts: -1 }, /maxRestarts must be an integer ≥ 0, got -1/],
      [{ maxRestarts: 1.5 }, /maxRestarts must be an integer ≥ 0/],
      [{ maxRestarts: "3" }, /maxRestarts must be an integer ≥ 0/],
      [{ maxSeconds: 0 }, /maxSeconds must be a number > 0, got 0/],
      [{ maxSeconds: Number.NaN }, /maxSeconds must be a number > 0/],
    ] as const
  ) {
    assert.throws(
      () => checkIntensity(o as never),
      (e: Error) => e instanceof RangeError && message.test(e.message),
    );
  }
});
